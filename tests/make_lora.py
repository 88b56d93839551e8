"""Make a small LoRA adapter for a Hugging Face-format model, with peft.

Run with the Python that has vLLM (torch, transformers, peft):
``python tests/make_lora.py MODEL_DIR OUT_DIR``. The adapter's weights are
peft's fresh initialisation, so it leaves the base model's answers unchanged:
the tests check that vLLM serves it under its own name.
"""

import sys

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

base = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.bfloat16)
config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.0, task_type="CAUSAL_LM")
get_peft_model(base, config).save_pretrained(sys.argv[2])
print(f"wrote {sys.argv[2]}")
