"""The ImageNet recipe of Sec. 3.4: `config` holds every setting of a run; `sources` (with
`records`) the data, `order` the training order, `cropping` and `input_pipeline` the streams,
`pixel_mean` the mean, `model` the model it trains, `task` the recipe as a task of the one
training loop (`keras_resnet.training.loop`), `evaluation` the test protocols, `finetune` the
published nets in the recipe, `cli` the command line. Import the modules you need.
"""
