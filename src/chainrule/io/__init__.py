"""Saving and loading: safetensors files with a JSON header, never pickle.

    cr.save(model, "iris.safetensors", metadata={"classes": ["setosa", ...]})
    model = cr.load("iris.safetensors")              # rebuilt from the stored architecture
    cr.save_checkpoint("ckpt.safetensors", model, optimizer, epoch=3)
    ck = cr.load_checkpoint("ckpt.safetensors", model, optimizer)

Loading validates the whole header before allocating anything and raises
``ModelFileError`` naming the file for any malformed, hostile or mismatching content.
"""
from .checkpoint import load_checkpoint, save_checkpoint
from .model_file import describe, load, read_metadata, save
from .safetensors_format import atomic_write, read_safetensors, write_safetensors

__all__ = ["save", "load", "read_metadata", "describe", "save_checkpoint", "load_checkpoint",
           "read_safetensors", "write_safetensors", "atomic_write"]
