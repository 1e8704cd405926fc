"""Evaluation sets written apart from the training generator: hand-written documents and real manual pages."""
