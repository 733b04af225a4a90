#!/usr/bin/env bash
# One device call for a session lent a GPU (README, "With a GPU"). Prepared here by
# benchmarks/gpu_prepare.sh; run there as
#   run(command="bash benchmarks/gpu_session.sh", carry=[".whl", ".data"], timeout_s=600)
# A session has 15 minutes of device time, a minute or two of it the machine's start: one call.
# The steps run in the order STEPS lists them, each one's output under $OUT as soon as it is done
# (what comes back: at most 8 files of at most 16 MiB, 2 folders down: the weights are exported in
# fp16, as shipped). Training first, so that the weights come back whatever else runs long; the
# tests and the bench after it, each cut off where it would pass END_BY seconds from the start:
#   3. the tokenizer trained on from the shipped one, encoder too (bf16 autocast) for TOK_MIN
#      minutes -> tokenizer/{config.json, model.safetensors, metrics.jsonl}
#   4. the transformer fine-tuned from the shipped one on a token cache of that tokenizer for
#      TR_MIN minutes, cache included -> transformer/{config.json, model.safetensors}
#      (its metrics.jsonl rows are appended to log.txt)
#   1. the accelerator tests (tests/test_accelerator.py) and nvidia-smi -> log.txt
#   2. magvit bench on the GPU -> bench_gpu.json; the tokenizer's peak memory for one 17-frame
#      window at 1920x1088 against runners.window_bytes (measured on the CPU; the GPU runs the
#      plain path under bf16 autocast) -> tokenizer_memory_gpu.json (recalibrate MEMORY_UNITS by it)
#   5. (not in the default STEPS: a later session's call, STEPS=5) the token search through the shipped
#      decoder at GPU scale: magvit eval --tasks tokenizer --refine REFINE (100) on the example
#      clip, 3 windows -> refine_gpu.json (the CPU measured 10 and 30 steps: weights/README.md)
# Back here: evaluate both with `magvit eval` on the held-out clips (the settings of weights/eval_carphone.json)
# and `python benchmarks/report.py compare weights/eval_carphone.json NEW.json` before shipping them.
# Settings through the environment: DEV (cuda), STEPS (default "3 4 1 2"), END_BY (540 s), TOK_MIN (3),
# TR_MIN (3.5, the cache included), TOK_BATCH (64), TR_BATCH (64), WORKERS (12), CACHE_CLIPS (3072),
# BENCH_TASKS, MEM_SIZE (1920x1088), REFINE (100), REFINE_WINDOWS (3), TOK_ARGS (more flags for step 3, e.g. "--freeze-decoder
# --distill 10": the encoder alone, taught the searched tokens; none of that has beaten the
# shipped encoder on this CPU, weights/README.md; .data holds videos at a short side of 128, so
# --max-short above that needs a .data prepared larger). About 9 minutes in all: one call of timeout_s=600.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_session_out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
DEV=${DEV:-cuda} STEPS=${STEPS:-3 4 1 2} END_BY=${END_BY:-540} TOK_MIN=${TOK_MIN:-3} TR_MIN=${TR_MIN:-3.5}
TOK_BATCH=${TOK_BATCH:-64} TR_BATCH=${TR_BATCH:-64} WORKERS=${WORKERS:-12} CACHE_CLIPS=${CACHE_CLIPS:-3072}
BENCH_TASKS=${BENCH_TASKS:-interpolate,predict,outpaint,inpaint,reconstruct} MEM_SIZE=${MEM_SIZE:-1920x1088}
REFINE=${REFINE:-100} REFINE_WINDOWS=${REFINE_WINDOWS:-3}
RUNS=${RUNS:-/tmp/gpu_session_runs}
export PYTHONUNBUFFERED=1

if ! python3 -c "import av" 2>/dev/null; then  # the device image has no PyAV: the carried wheel
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "no PyAV and no usable .whl/ (run benchmarks/gpu_prepare.sh here and carry .whl)"; exit 1; }
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
magvit() { python3 -m magvit_cli "$@"; }
data=(--data .data/video --data .data/photos)
[ -d .data/video ] || echo "no .data/ (run benchmarks/gpu_prepare.sh here and carry .data): training on synthetic clips only"
[ -d .data/video ] || data=()
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }
left() { echo $((END_BY - SECONDS)); }  # seconds until END_BY (bash counts SECONDS from the start)
within() {  # CMD... cut off at END_BY (exit 124), or skipped with a line where under 10 s are left
  [ "$(left)" -ge 10 ] || { echo "skipped, END_BY ($END_BY s) reached: $*"; return 124; }
  timeout "$(left)" "$@"
}
tok=weights/default/tokenizer  # step 4's tokenizer: step 3's where it ran and exported

step1() {
  stamp "1. accelerator tests"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
  MAGVIT_TEST_DEVICE=$DEV within python3 -m pytest -q -p no:cacheprovider tests/test_accelerator.py 2>&1 | tail -n 15
}

step2() {
  stamp "2. bench"
  within python3 -m magvit_cli bench --tasks "$BENCH_TASKS" --device "$DEV" --json -q > "$OUT/bench_gpu.json" || echo "bench failed"
  cat "$OUT/bench_gpu.json"
  within python3 benchmarks/tokenizer_memory.py --device "$DEV" --size "$MEM_SIZE" --frames 17 \
    --report "$OUT/tokenizer_memory_gpu.json" || echo "tokenizer memory failed"
}

step3() {
  stamp "3. tokenizer, $TOK_MIN minutes"
  rm -rf "$RUNS/tok"
  magvit train tokenizer --out "$RUNS/tok" --init weights/default/tokenizer "${data[@]}" --synthetic-weight 0.4 \
    --frames 17 --size 64 --batch "$TOK_BATCH" --lr 2e-4 --betas 0.9,0.99 --warmup 50 --steps 100000 --recon l1 \
    --heldout examples/carphone.mp4 --eval-every 250 --ckpt-every 250 --workers "$WORKERS" --seed 11 \
    --max-minutes "$TOK_MIN" --device "$DEV" -q ${TOK_ARGS:-} \
    && magvit train export "$RUNS/tok" --out "$OUT/tokenizer" --half --force && cp "$RUNS/tok/metrics.jsonl" "$OUT/tokenizer/" \
    && tok=$RUNS/tok/export
  grep heldout_psnr "$RUNS/tok/metrics.jsonl" 2>/dev/null | tail -n 3
}

step4() {
  stamp "4. transformer on $tok's tokens, $TR_MIN minutes"
  rm -rf "$RUNS/tr"
  magvit train transformer --out "$RUNS/tr" --tokenizer "$tok" --init weights/default/transformer "${data[@]}" \
    --cache-clips "$CACHE_CLIPS" --cache-variants 6 --batch "$TR_BATCH" --lr 3e-4 --warmup 50 --steps 100000 \
    --eval-every 250 --ckpt-every 250 --seed 12 --max-minutes "$TR_MIN" --device "$DEV" -q \
    && magvit train export "$RUNS/tr" --out "$OUT/transformer" --half --force
  tail -n 4 "$RUNS/tr/metrics.jsonl" 2>/dev/null
}

step5() {
  stamp "5. token search, $REFINE steps"
  magvit eval examples/carphone.mp4 --tasks tokenizer --windows "$REFINE_WINDOWS" --refine "$REFINE" \
    --device "$DEV" --report "$OUT/refine_gpu.json" -q || echo "token search failed"
  python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['average'])" "$OUT/refine_gpu.json" 2>/dev/null
}

for n in $STEPS; do
  declare -F "step$n" > /dev/null || { echo "no step $n (1 to 5)"; exit 2; }
  "step$n"
done
stamp done
