"""The device suite behind ``daisynet train-bench --suite``: third-party processors
(devices.py) recorded over eurorack-like material with a knob turning (material.py), trained
by the product and by a plain loop (bench.py) at each model size (sizes.py). pedalboard and
dawdreamer are imported only while a device renders."""
