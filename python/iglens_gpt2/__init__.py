"""GPT-2 for IG-Lens in plain PyTorch (Debian's python3-torch, no other
package): the model (gpt2), a safetensors reader and writer
(safetensors_io), the bundle exporter (export) and the demo model's
training (train_demo). python/export_gpt2.py and python/train_demo_gpt2.py
run the last two from a checkout."""
