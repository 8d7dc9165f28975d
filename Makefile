# Two commands do everything on a fresh Debian 12 machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
export QT_QPA_PLATFORM ?= offscreen
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup test test-numpy2 lint demo bench plugin-zip install-engine-check weights-check clean

setup: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@/usr/bin/python3 -c "import qgis.core" 2>/dev/null || { \
	  echo "xview setup: installing python3-qgis with apt (about a minute)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends python3-qgis python3-venv python3-pip; }
	@[ -x /usr/bin/qgis_process.bin ] || { echo "xview setup: installing qgis (qgis_process) with apt"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends qgis; }
	@[ -x $(PY) ] || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@$(PY) -c "import qgis.core, torch, torchvision, rasterio, onnxruntime, numpy; assert numpy.__version__.startswith('1.24'), numpy.__version__"
	@touch $(STAMP)

test: setup
	$(PY) -m ruff check xview_engine xview_qgis tests __init__.py
	$(PY) -m pytest -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# The engine's tests on numpy 2 (as on the GPU machines) beside the numpy 1.24 that QGIS' bindings need:
# a second venv holds numpy 2 (and the scipy and matplotlib built for it) in front of .venv's packages.
# QGIS itself cannot load there, so the plugin's tests and the two that start QGIS or install beside it
# are left out. Not part of `make test` (a few minutes, and a registry with numpy 2 wheels).
NP2 := .venv-numpy2
test-numpy2: setup
	@[ -x $(NP2)/bin/python ] || /usr/bin/python3 -m venv $(NP2)
	$(NP2)/bin/python -m pip install -q --disable-pip-version-check "numpy>=2,<3" "scipy>=1.13" "matplotlib>=3.9" pytest
	@site=$$($(NP2)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$$site/zz_xview_venv.pth"; \
	  echo /usr/lib/python3/dist-packages > "$$site/zzz_system.pth"
	$(NP2)/bin/python -c "import numpy; assert numpy.__version__ >= '2', numpy.__version__; print('numpy', numpy.__version__)"
	$(NP2)/bin/python -m pytest -q -p no:cacheprovider --ignore=tests/plugin \
	  --deselect tests/cli/test_demo.py::test_demo_small_world \
	  --deselect tests/install/test_install.py::test_reinstall_replaces_the_folder_and_keeps_qgis_numpy

lint: setup
	$(PY) -m ruff check xview_engine xview_qgis tests __init__.py

demo: setup
	$(VENV)/bin/xview demo -o demo_out --overwrite

bench: setup
	$(PY) benchmarks/run.py

plugin-zip: setup
	$(PY) tools/make_plugin_zip.py -o dist/xview.zip

# The plugin's engine install for real (torch and all, several GB) with QGIS' Python into a throwaway
# profile, then `xview doctor` as the plugin would see it. Not part of `make test`. Offline (local wheels
# only) keep TORCH_INDEX=none; online TORCH_INDEX=auto fetches the chosen build from download.pytorch.org.
ENGINE_BUILD ?= auto
TORCH_INDEX ?= none
install-engine-check:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	folder="$$tmp/profile/python/xview-engine/$$(/usr/bin/python3 -c 'import sys; print("py%d.%d" % sys.version_info[:2])')"; \
	PYTHONPATH=$(CURDIR) /usr/bin/python3 -m xview_engine install-engine --folder "$$folder" \
	  --build $(ENGINE_BUILD) --torch-index $(TORCH_INDEX) && \
	PYTHONPATH=$(CURDIR) /usr/bin/python3 -m xview_engine doctor --profile "$$tmp/profile" | tee "$$tmp/doctor.txt" && \
	grep -q "ready: yes" "$$tmp/doctor.txt" && du -sh "$$folder"

# The registry of published weights against the real servers (needs internet; about 1.5 GB downloaded into a
# temporary folder): sizes and full SHA-256s printed beside the recorded ones, each file loaded into the
# architecture that uses it. Not part of `make test`. WEIGHTS="imagenet:resnet18 ..." checks some only;
# WEIGHTS_CHECK_ARGS=--keep moves the files that match into the weights cache.
WEIGHTS ?=
WEIGHTS_CHECK_ARGS ?=
weights-check: setup
	$(PY) tools/weights_check.py $(WEIGHTS) $(WEIGHTS_CHECK_ARGS)

clean:
	rm -rf dist build demo_out bench_out .pytest_cache .ruff_cache
