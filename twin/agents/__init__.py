"""The twin's actors, one module each, as Mesa agents that start their own SimPy
processes: stores (and their replenishment review), online channels, fulfilment sites,
suppliers, the carrier, the returns centre, people (approvers, the planner, finance,
inventory control) and the integration middleware. `twin.model.RetailTwin` builds and
wires them; they talk through the model or small explicit calls (a carrier delivers,
the store receives). An agent module imports no other agent module, nor the model,
when it runs (type hints only; `tests/test_layers.py`), so there are no import circles.
"""
