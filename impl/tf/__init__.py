"""optimspec.tf: production TensorFlow / Keras 3 implementations of the transformers TF optimization API."""
