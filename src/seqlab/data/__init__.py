"""Data: tokenize, vocabulary, sources, named datasets, generated datasets, batching."""
