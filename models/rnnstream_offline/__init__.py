"""rnnstream's offline side: train RNN/GRU/LSTM classifiers with PyTorch, export them to ONNX with explicit
recurrent state, verify the export, and publish it into the model repository.

Imports torch. The serving package ``rnnstream`` never imports this one.
"""
