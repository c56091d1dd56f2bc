"""What a model costs: on the emulated Cortex-M7 against the Daisy's budget (``bench``, and
``plan`` before training, whose real-time verdict export and flash also give) and in training
time and quality per seed (``train_bench``)."""
