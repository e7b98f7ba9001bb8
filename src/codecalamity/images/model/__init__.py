"""Data files of the learned method: the ONNX backbone and the shipped head (see ORIGIN.md)."""
