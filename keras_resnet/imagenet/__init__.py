"""ImageNet for the paper's nets: input pipeline (Sec. 3.4), test protocol, distributed training.

Import the modules you need: `config`, `sources`, `input_pipeline`, `model`, `evaluation`, `train`.
"""
