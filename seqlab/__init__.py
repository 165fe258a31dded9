"""seqlab: a training platform for recurrent sequence models on PyTorch Lightning."""

__version__ = "0.1.0"
