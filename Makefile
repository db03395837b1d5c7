# Benchmarks. The tests and the demo have their own commands: see README.md.
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)

.PHONY: bench bench-quick bench-render bench-scaling

bench:  ## the full side-by-side run (~20 min): writes bench/RESULTS.md and bench/RESULTS.json
	$(PYTHON) -m bench

bench-quick:  ## a smoke run (~5 min) into /tmp, leaving bench/RESULTS.md alone
	$(PYTHON) -m bench --quick --out /tmp/oversight-bench-quick.md

bench-render:  ## /metrics render time in-process, prometheus_client against the renderer
	$(PYTHON) -m bench.render --integrations 10000

bench-scaling:  ## one agent with 20,000 probes beside 4 shards of it (~10 min): bench/SCALING.md
	$(PYTHON) -m bench --scaling
