"""Process-level services: atomic writes, threads, torchrun, progress, run folders."""
