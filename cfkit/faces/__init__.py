"""Face models: detection, alignment, landmarks and identity embeddings."""
