#!/usr/bin/env bash
# The GPU measurements the issues ask for, in parts that each fit one 10-minute device command.
#
# Here (once per session, in the repo root): copy the datasets the parts read into .gpu-data/
# (git-ignored through .git/info/exclude; about 43 MB, under the 64 MiB a device call carries):
#     bash benchmarks/device_runs.sh prepare
# There (one part per device `run`, with carry [".gpu-data"]; each writes its logs and
# summaries under $OUT, which comes back):
#     bash benchmarks/device_runs.sh smoke                # a minute: does seqlab run there at all?
#     bash benchmarks/device_runs.sh recipes-classify     # imdb-bilstm, sst2-bilstm, names-charrnn
#     bash benchmarks/device_runs.sh recipes-seq          # ud-pos-bilstm, multi30k-lstm
#     bash benchmarks/device_runs.sh recipes-more         # multi30k-transformer, shakespeare-char
#     bash benchmarks/device_runs.sh kernels              # seqlab bench grid, Triton kernels vs cuDNN
#     bash benchmarks/device_runs.sh word2vec             # word2vec-imdb's words/s on the GPU
#     bash benchmarks/device_runs.sh end-to-end           # recipes beside plain PyTorch
# Device time is scarce (about 30 minutes a session): pick the parts that answer the open
# acceptance lines first. Nothing here is installed there: the device image has torch,
# sacrebleu, safetensors, rich, PyYAML, tokenizers and matplotlib; seqlab runs from src/.
set -euo pipefail
cd "$(dirname "$0")/.."
part=${1:?"which part? prepare, smoke, recipes-classify, recipes-seq, recipes-more, kernels, word2vec, end-to-end"}

if [[ $part == prepare ]]; then
    mkdir -p .git/info .gpu-data
    grep -qx '/.gpu-data/' .git/info/exclude 2>/dev/null || echo '/.gpu-data/' >> .git/info/exclude
    cp -r ../shared/datasets/. .gpu-data/
    du -sh .gpu-data
    exit 0
fi

: "${OUT:?run this part on the device machine, where OUT is set}"
export SEQLAB_DATA_DIR=$PWD/.gpu-data PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
seqlab() { python3 -m seqlab "$@"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/gpu.txt" || true

# train RECIPE [overrides...]: the run's wall time, summary and log into $OUT (NAME=... names the run)
train() {
    local recipe=$1; shift
    local name=${NAME:-$recipe}
    local sets=() override
    for override in "$@"; do sets+=(--set "$override"); done
    local start=$SECONDS
    seqlab train "$recipe" "${sets[@]}" --out "runs/$name" > "$OUT/$name.log" 2>&1 || echo "FAILED" >> "$OUT/$name.log"
    echo "$name: $((SECONDS - start)) s wall" | tee -a "$OUT/times.txt"
    cp "runs/$name/summary.json" "$OUT/$name.summary.json" 2>/dev/null || true
}

case $part in
    smoke)
        python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" > "$OUT/env.txt" 2>&1 || true
        train sst2-smoke
        train multi30k-smoke
        ;;
    recipes-classify)
        train imdb-bilstm
        train sst2-bilstm
        train names-charrnn
        ;;
    recipes-seq)
        train ud-pos-bilstm
        train multi30k-lstm
        ;;
    recipes-more)
        train multi30k-transformer
        train shakespeare-char
        ;;
    kernels)
        seqlab bench --preset h100 --json "$OUT/bench.json" > "$OUT/bench.md" 2>&1 || echo FAILED >> "$OUT/bench.md"
        python3 benchmarks/triton_lstm.py > "$OUT/triton_lstm.txt" 2>&1 || echo FAILED >> "$OUT/triton_lstm.txt"
        ;;
    word2vec)  # words/s on the GPU, against gensim's 404-424k words/s on 2 CPU cores (BENCHMARKS.md)
        NAME=w2v-imdb-1ep train word2vec-imdb train.device=cuda train.epochs=1
        NAME=w2v-imdb-5ep train word2vec-imdb train.device=cuda
        ;;
    end-to-end)
        python3 benchmarks/end_to_end.py imdb-bilstm --epochs 3 > "$OUT/e2e-imdb.txt" 2>&1 || echo FAILED >> "$OUT/e2e-imdb.txt"
        python3 benchmarks/end_to_end.py multi30k-lstm --epochs 3 > "$OUT/e2e-multi30k.txt" 2>&1 || echo FAILED >> "$OUT/e2e-multi30k.txt"
        ;;
    *)
        echo "unknown part $part" >&2
        exit 2
        ;;
esac
ls -l "$OUT"
