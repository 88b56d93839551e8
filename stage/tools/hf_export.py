"""Convert a GGUF chat model to Hugging Face format, for vLLM to serve.

No Hugging Face-format weights ship on PyPI, so vLLM's tests serve the same
SmolLM2 the embedded backend runs, converted. Run it with the Python that has
vLLM (it needs torch, transformers, gguf and accelerate)::

    .venv-vllm/bin/python -m stage.tools.hf_export build/smollm2-hf [--gguf FILE]

Only torch and transformers are imported: this runs outside Fireside's own
environment.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from stage.think.llm import ModelError, default_gguf


def smollm2_gguf() -> Path:
    try:
        return default_gguf()
    except ModelError as err:
        sys.exit(f"{err}, or pass --gguf")


def export(gguf: Path, out: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        # transformers reads a GGUF from a folder; link it there
        link = Path(tmp) / gguf.name
        link.symlink_to(gguf.resolve())
        loaded = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(tmp, gguf_file=gguf.name)
    # a GGUF-loaded model refuses save_pretrained: copy its weights into a fresh one
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the weights are de-quantized now
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    result = model.load_state_dict({k: v.to(torch.bfloat16) for k, v in loaded.state_dict().items()}, strict=False)
    missing = [k for k in result.missing_keys if not (k == "lm_head.weight" and model.config.tie_word_embeddings)]
    if missing or result.unexpected_keys:
        raise SystemExit(
            f"the GGUF's weights do not fit the model: missing {missing}, unexpected {result.unexpected_keys}"
        )
    model.tie_weights()
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--gguf", type=Path)
    args = parser.parse_args()
    path = export(args.gguf or smollm2_gguf(), args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
