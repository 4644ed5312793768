# mnist-burn: train MNIST classifiers with Burn and classify your own digit images.
# `make help` lists the targets and the variables they take.

SHELL := /bin/bash
CARGO ?= cargo
# Binaries and tests share one release build: a debug Burn trains about a hundred times
# slower and links binaries of several GiB.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
BIN := $(CARGO_TARGET_DIR)/release

MODEL ?= mlp
BACKEND ?= flex
DATASET_DIR ?= datasets/mnist
ARTIFACT_DIR ?= artifacts
SAMPLES_DIR ?= datasets/samples
FIXTURES_DIR ?= datasets/fixtures

# Optional training flags; unset ones take mnist-train's defaults.
TRAIN_FLAGS := --model $(MODEL) --backend $(BACKEND) --data-dir "$(DATASET_DIR)" \
	--artifact-dir "$(ARTIFACT_DIR)" \
	$(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(BATCH_SIZE),--batch-size $(BATCH_SIZE)) \
	$(if $(LR),--learning-rate $(LR)) $(if $(LR_SCHEDULE),--lr-schedule $(LR_SCHEDULE)) \
	$(if $(WEIGHT_DECAY),--weight-decay $(WEIGHT_DECAY)) $(if $(DROPOUT),--dropout $(DROPOUT)) \
	$(if $(CHANNELS),--channels $(CHANNELS)) $(if $(HIDDEN),--hidden $(HIDDEN)) \
	$(if $(filter 0,$(AUGMENT)),--no-augment) $(if $(SEED),--seed $(SEED)) \
	$(if $(UNAUGMENTED_EPOCHS),--unaugmented-epochs $(UNAUGMENTED_EPOCHS)) \
	$(if $(VALID_FRACTION),--valid-fraction $(VALID_FRACTION)) \
	$(if $(LIMIT),--limit $(LIMIT)) $(if $(PROGRESS),--progress $(PROGRESS)) \
	$(if $(filter 1,$(RESUME)),--resume) $(if $(filter 1,$(RESTART)),--restart) \
	$(if $(KEEP_CHECKPOINTS),--keep-checkpoints $(KEEP_CHECKPOINTS))

.PHONY: help build data train eval infer bench samples fixtures test setup-wgpu setup-fonts clean

help:
	@echo "make train [MODEL=mlp|cnn] [BACKEND=flex|ndarray|wgpu] [EPOCHS=] [BATCH_SIZE=]"
	@echo "           [LR=] [LR_SCHEDULE=cosine|linear|step|constant] [WEIGHT_DECAY=]"
	@echo "           [AUGMENT=0] [UNAUGMENTED_EPOCHS=] [SEED=]"
	@echo "           [DROPOUT=] [CHANNELS=32,64] [HIDDEN=]   (cnn only)"
	@echo "           [VALID_FRACTION=] [LIMIT=] [PROGRESS=plain]"
	@echo "           [RESUME=1 | RESTART=1]    continue or discard an interrupted run"
	@echo "           [KEEP_CHECKPOINTS=2]      epochs whose checkpoints stay; 0 keeps all"
	@echo "make eval [MODEL=mlp|cnn] [BACKEND=]     evaluate the trained model on the test set:"
	@echo "                                        tables, eval.json and PNG plots in its run folder"
	@echo "make infer IMAGE=path [MODEL=mlp|cnn]   classify an image (or a folder of them)"
	@echo "make bench [BENCH_FLAGS=--quick]        time training and inference of both models on"
	@echo "                                        flex and ndarray; writes $(ARTIFACT_DIR)/bench/bench.json"
	@echo "make data [DATA_DIR=folder]             fetch and verify MNIST into $(DATASET_DIR)"
	@echo "make samples                            write test digits as PNG into $(SAMPLES_DIR)"
	@echo "make fixtures [PER_KIND=10]             render test digits as scans, photos, drawings"
	@echo "make test                               build, fetch data and run every test"
	@echo "make setup-wgpu                         install Mesa's software Vulkan driver if no"
	@echo "                                        Vulkan driver is present (for BACKEND=wgpu)"
	@echo "make setup-fonts                        install DejaVu Sans for the plots' text if absent"

build:
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found; install Rust from rustup.rs" >&2; exit 1; }
	$(CARGO) build --release --locked --workspace --bins

data: build
	$(BIN)/mnist-data fetch --dir "$(DATASET_DIR)" $(if $(DATA_DIR),--data-dir "$(DATA_DIR)")

train: data $(if $(filter wgpu,$(BACKEND)),setup-wgpu)
	$(BIN)/mnist-train $(TRAIN_FLAGS)

# The backend defaults to the one the model was trained on; BACKEND given on the command
# line or in the environment overrides it.
eval: data setup-fonts $(if $(filter wgpu,$(BACKEND)),setup-wgpu)
	$(BIN)/mnist-eval --model $(MODEL) --data-dir "$(DATASET_DIR)" --artifact-dir "$(ARTIFACT_DIR)" \
		$(if $(filter command line environment,$(origin BACKEND)),--backend $(BACKEND))

infer: build
	@test -n "$(IMAGE)" || { echo "error: set IMAGE, e.g. make infer IMAGE=datasets/samples/digit-7-index-0.png" >&2; exit 2; }
	$(BIN)/mnist-infer --model $(MODEL) --artifact-dir "$(ARTIFACT_DIR)" "$(IMAGE)"

# Training and inference speed of both models; `mnist-bench --help` lists BENCH_FLAGS,
# e.g. --quick, --backends flex,ndarray,wgpu or --layer-iterations 10.
bench: data
	$(BIN)/mnist-bench --data-dir "$(DATASET_DIR)" --out-dir "$(ARTIFACT_DIR)/bench" $(BENCH_FLAGS)

samples: data
	$(BIN)/mnist-data samples --dir "$(DATASET_DIR)" --out "$(SAMPLES_DIR)"

# Test digits rendered the ways people make images (scans, photos, drawings), as the
# real-world tests see them; PER_KIND digits of each kind.
fixtures: data
	$(BIN)/mnist-fixtures --data-dir "$(DATASET_DIR)" --out "$(FIXTURES_DIR)" --per-kind $(or $(PER_KIND),10)

# Mesa's Vulkan driver prints an error on every start when XDG_RUNTIME_DIR is unset, as
# in CI; the wgpu tests open devices in-process, so the tests get a private folder.
test: data setup-wgpu setup-fonts
	XDG_RUNTIME_DIR="$${XDG_RUNTIME_DIR:-$$(mktemp -d)}" $(CARGO) test --release --locked --workspace

# wgpu needs a Vulkan driver. Where none is installed, Mesa's software driver (lavapipe)
# gives wgpu a real adapter on machines without a GPU.
setup-wgpu:
	@if ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then \
		echo "Vulkan driver present: $$(ls /usr/share/vulkan/icd.d/ | tr '\n' ' ')"; \
	elif command -v apt-get >/dev/null; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		echo "installing Mesa's software Vulkan driver (mesa-vulkan-drivers)"; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq mesa-vulkan-drivers; \
	else \
		echo "error: no Vulkan driver found; install your GPU's Vulkan driver or Mesa's" \
			"software one (mesa-vulkan-drivers), or train with BACKEND=flex" >&2; exit 7; \
	fi

# mnist-eval and mnist-train draw their plots' text with DejaVu Sans, read at run time from
# the paths mnist-train's plot module searches, or from MNIST_PLOT_FONT.
FONT_PATHS := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
	/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf /usr/share/fonts/TTF/DejaVuSans.ttf

setup-fonts:
	@if [ -n "$$MNIST_PLOT_FONT" ]; then \
		echo "plot font: $$MNIST_PLOT_FONT (MNIST_PLOT_FONT)"; \
	elif found=$$(ls $(FONT_PATHS) 2>/dev/null | head -n 1) && [ -n "$$found" ]; then \
		echo "plot font: $$found"; \
	elif command -v apt-get >/dev/null; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		echo "installing DejaVu Sans for the plots' text (fonts-dejavu-core)"; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq fonts-dejavu-core; \
	else \
		echo "error: no DejaVu Sans found for the plots' text; install it, or set" \
			"MNIST_PLOT_FONT to a .ttf file" >&2; exit 8; \
	fi

clean:
	$(CARGO) clean
