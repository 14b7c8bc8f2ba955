"""Running one training job: trainer assembly, metric files, callbacks."""
