"""optimspec.torch: production PyTorch implementations of the transformers optimization API."""
