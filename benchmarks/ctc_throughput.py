"""CTC acoustic model speed, side by side in one run: training steps (CTC loss in fp32, AdamW) and
greedy / prefix-beam decoding of seqlab's ``CTCModel``, on CPU and, where there is one, on a CUDA GPU
in fp32 and bf16 autocast. Also checks that the GPU's CTC loss and log-probabilities agree with the
CPU's on the same weights and inputs (cuDNN/CUDA kernels vs CPU ones).

Inputs imitate the built-in speech corpus: 80 log-mel features, utterances of 60 to 320 frames
(0.6 to 3.2 s), 4 to 24 characters, batches of 32 sorted into similar lengths. Only torch and
``seqlab.nn`` are needed, so the script runs on a bare GPU machine too::

    python benchmarks/ctc_throughput.py                 # CPU (and GPU if present)
    python benchmarks/ctc_throughput.py --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seqlab.nn import AcousticConfig
from seqlab.nn.acoustic import CTCModel
from seqlab.nn.ctc import ctc_beam_decode, ctc_greedy_decode, ctc_loss


def make_batch(generator: torch.Generator, batch: int, vocab: int, features: int) -> dict[str, torch.Tensor]:
    base = int(torch.randint(60, 320, (1,), generator=generator))
    lengths = (base * (0.85 + 0.15 * torch.rand(batch, generator=generator))).long().clamp(min=40)
    lengths[0] = base  # the longest sets the padded length
    targets_len = (lengths // 13).clamp(4, 24)
    return {
        "features": torch.randn(batch, base, features, generator=generator),
        "lengths": lengths,
        "targets": torch.randint(1, vocab, (batch, int(targets_len.max())), generator=generator),
        "target_lengths": targets_len,
    }


def train_speed(model: CTCModel, batches: list, device: str, bf16: bool, warmup: int = 3) -> float:
    """Input frames per second over ``batches`` (after ``warmup`` untimed steps)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    autocast = (
        torch.autocast(device.split(":")[0], dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    )
    frames, start = 0, 0.0
    for i, b in enumerate(batches):
        if i == warmup:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start, frames = time.perf_counter(), 0
        b = {k: v.to(device) for k, v in b.items()}
        with autocast:
            log_probs, out_lengths = model(b["features"], b["lengths"])
        result = ctc_loss(log_probs.float(), out_lengths, b["targets"], b["target_lengths"])
        loss = (result.losses / b["target_lengths"]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        frames += int(b["lengths"].sum())
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return frames / (time.perf_counter() - start)


@torch.inference_mode()
def decode_speed(model: CTCModel, batch: dict, device: str, beam: int) -> float:
    """Utterances per second, greedy (``beam`` 1) or prefix beam search, on ``device`` outputs."""
    model.eval()
    b = {k: v.to(device) for k, v in batch.items()}
    start = time.perf_counter()
    log_probs, lengths = model(b["features"], b["lengths"])
    if beam == 1:
        ctc_greedy_decode(log_probs, lengths)
    else:
        ctc_beam_decode(log_probs, lengths, beam_size=beam, prune=-6.9)
    model.train()
    return len(b["lengths"]) / (time.perf_counter() - start)


@torch.inference_mode()
def agreement(cpu_model: CTCModel, batch: dict, device: str) -> dict[str, float]:
    """Largest differences between CPU and ``device`` (fp32) on the same weights and batch."""
    gpu_model = CTCModel(
        cpu_model.output.out_features, batch["features"].size(-1), AcousticConfig(**ARCH)
    ).to(device)
    gpu_model.load_state_dict(cpu_model.state_dict())
    cpu_model.eval()
    gpu_model.eval()
    out = {}
    lp_cpu, len_cpu = cpu_model(batch["features"], batch["lengths"])
    b = {k: v.to(device) for k, v in batch.items()}
    lp_gpu, len_gpu = gpu_model(b["features"], b["lengths"])
    mask = torch.arange(lp_cpu.size(1))[None, :] < len_cpu[:, None]
    out["log_probs_max_abs_diff"] = float((lp_cpu - lp_gpu.cpu()).abs()[mask].max())
    loss_cpu = ctc_loss(lp_cpu, len_cpu, batch["targets"], batch["target_lengths"]).losses
    loss_gpu = ctc_loss(lp_gpu, len_gpu, b["targets"], b["target_lengths"]).losses.cpu()
    out["ctc_loss_max_rel_diff"] = float(((loss_cpu - loss_gpu).abs() / loss_cpu.abs().clamp(min=1e-6)).max())
    greedy_equal = ctc_greedy_decode(lp_cpu, len_cpu) == ctc_greedy_decode(lp_gpu, len_gpu)
    out["greedy_transcripts_equal"] = float(greedy_equal)
    cpu_model.train()
    return out


ARCH = {
    "hidden_size": 192,
    "num_layers": 3,
    "cell": "lstm",
    "bidirectional": True,
    "dropout": 0.2,
    "subsampling": "stack",
    "subsampling_factor": 3,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=15, help="timed training steps per setting")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=30, help="labels including the blank")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    batches = [make_batch(generator, args.batch, args.vocab, 80) for _ in range(args.steps + 3)]
    model = CTCModel(args.vocab, 80, AcousticConfig(**ARCH))
    figures: dict[str, float] = {}
    figures["cpu_fp32_train_frames_per_s"] = train_speed(model, batches, "cpu", bf16=False)
    figures["cpu_greedy_utt_per_s"] = decode_speed(model, batches[0], "cpu", 1)
    figures["cpu_beam8_utt_per_s"] = decode_speed(model, batches[0], "cpu", 8)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = False
        gpu = CTCModel(args.vocab, 80, AcousticConfig(**ARCH)).to("cuda")
        figures["gpu_name"] = torch.cuda.get_device_name()  # type: ignore[assignment]
        figures["gpu_fp32_train_frames_per_s"] = train_speed(gpu, batches, "cuda", bf16=False)
        figures["gpu_bf16_train_frames_per_s"] = train_speed(gpu, batches, "cuda", bf16=True)
        figures["gpu_greedy_utt_per_s"] = decode_speed(gpu, batches[0], "cuda", 1)
        figures["gpu_beam8_utt_per_s"] = decode_speed(gpu, batches[0], "cuda", 8)
        figures.update(agreement(model, batches[1], "cuda"))
        figures["gpu_fp32_over_cpu_fp32"] = (
            figures["gpu_fp32_train_frames_per_s"] / figures["cpu_fp32_train_frames_per_s"]
        )
        figures["gpu_bf16_over_gpu_fp32"] = (
            figures["gpu_bf16_train_frames_per_s"] / figures["gpu_fp32_train_frames_per_s"]
        )
    for key, value in figures.items():
        print(f"{key:32s} {value:.4g}" if isinstance(value, float) else f"{key:32s} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
