"""Training (needs ``pip install -e ".[train]"``): PyTorch, albumentations, TensorBoard."""
