"""Evaluation domains and datasets: what a challenge's inputs are (grids, token samples,
safetensors datasets), enumerated or sampled in batches. No torch at import."""
