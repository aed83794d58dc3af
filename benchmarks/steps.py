"""A bare compiled train step of a Keras network, per backend, and the peak memory of a run.

Used by `train_throughput.py` (its path (b)). The step is the least a training
loop can do: forward, loss (plus the model's regularization losses), gradients, optimizer
update, on one batch that is already on the device; no metrics, callbacks or input pipeline.

- JAX: `jax.jit` over `stateless_call` and `optimizer.stateless_apply`, state donated.
- TensorFlow: `tf.function` with a `GradientTape`, XLA-compiled on a GPU or TPU; on a CPU without
  XLA, as Keras' `jit_compile="auto"` decides (TensorFlow's oneDNN kernels beat XLA:CPU there:
  ResNet-50 at 64², batch 16, 2 cores: 47 against 20 images/s).
- PyTorch: the Keras model as a `torch.nn.Module`, eager (as Keras' own torch trainer runs).

`torch_window` is the peer: the same net in PyTorch (`torch_peer`), eager or under `torch.compile`.
"""

import resource
import sys
import time

import keras


def _loss_scale(optimizer):
    """`(optimizer, index of its dynamic loss scale among optimizer.variables or None)`."""
    if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer, None
    return optimizer, next(i for i, v in enumerate(optimizer.variables) if v is optimizer.dynamic_scale)


def with_loss_scaling(optimizer):
    """Wraps in a `LossScaleOptimizer` under `mixed_float16`, as `model.compile` does."""
    if keras.config.dtype_policy().name == "mixed_float16" and not isinstance(
        optimizer, keras.optimizers.LossScaleOptimizer
    ):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def bare_step_window(network, optimizer, x, y, steps, warmup_steps=2, repeats=1):
    """Compiles and warms up a train step of `network` on one device-resident batch; returns
    the function that times it (`fastest`).

    Args:
        network: a built `keras.Model` that outputs logits.
        optimizer: a `keras.optimizers.Optimizer` (not yet built); wrapped for loss scaling
            under `mixed_float16`.
        x: numpy images, one batch.
        y: numpy integer labels.
        steps: int. Timed steps.
        warmup_steps: int. Untimed steps first (the first one compiles). Defaults to `2`.
        repeats: int. Times the timed steps run; the fastest counts. Defaults to `1`.

    Returns:
        A function of no arguments: the seconds of the fastest of `repeats` runs of `steps` steps.
    """
    optimizer = with_loss_scaling(optimizer)
    optimizer.build(network.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    backend = keras.backend.backend()
    run = {"jax": _jax_steps, "tensorflow": _tf_steps, "torch": _torch_steps}.get(backend)
    if run is None:
        raise ValueError(f"no bare step for the {backend} backend")
    run(network, optimizer, loss_fn, x, y, max(1, warmup_steps))
    return fastest(lambda: run(network, optimizer, loss_fn, x, y, steps), repeats)


def fastest(run, repeats):
    """The function that calls `run()` `repeats` times and returns the fastest call's seconds.

    >>> fastest(lambda: None, 2)() >= 0
    True
    """

    def window():
        seconds = []
        for _ in range(max(1, repeats)):
            began = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - began)
        return min(seconds)

    return window


_COMPILED = {}


def _jax_steps(network, optimizer, loss_fn, x, y, steps):
    import jax

    key = (id(network), id(optimizer))
    if key not in _COMPILED:
        optimizer, scale_index = _loss_scale(optimizer)

        def loss_of(trainable, non_trainable, scale, x, y):
            logits, non_trainable, losses = network.stateless_call(
                trainable, non_trainable, x, training=True, return_losses=True
            )
            loss = loss_fn(y, logits) + sum(losses)
            return loss * scale, (loss, non_trainable)

        grad_fn = jax.value_and_grad(loss_of, has_aux=True)

        def step(state, x, y):
            trainable, non_trainable, opt_vars = state
            scale = 1.0 if scale_index is None else opt_vars[scale_index]
            (_, (loss, non_trainable)), grads = grad_fn(trainable, non_trainable, scale, x, y)
            trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
            return loss, (trainable, non_trainable, opt_vars)

        state = (
            [v.value for v in network.trainable_variables],
            [v.value for v in network.non_trainable_variables],
            [v.value for v in optimizer.variables],
        )
        _COMPILED[key] = [jax.jit(step, donate_argnums=0), state, jax.device_put(x), jax.device_put(y)]
    entry = _COMPILED[key]
    step, state, x, y = entry
    loss = None
    for _ in range(steps):
        loss, state = step(state, x, y)
    jax.block_until_ready(loss)
    entry[1] = state
    # The step donates its input state: hand the new arrays back to the variables.
    variables = (network.trainable_variables, network.non_trainable_variables, optimizer.variables)
    for group, values in zip(variables, state):
        for variable, value in zip(group, values):
            variable.assign(value)


def _tf_steps(network, optimizer, loss_fn, x, y, steps):
    import tensorflow as tf

    key = (id(network), id(optimizer))
    if key not in _COMPILED:

        @tf.function(jit_compile=accelerator() != "cpu")
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, network(x, training=True)) + sum(network.losses)
                scaled = optimizer.scale_loss(loss)
            optimizer.apply(tape.gradient(scaled, network.trainable_variables), network.trainable_variables)
            return loss

        _COMPILED[key] = (step, tf.constant(x), tf.constant(y))
    step, x, y = _COMPILED[key]
    loss = None
    for _ in range(steps):
        loss = step(x, y)
    loss.numpy()


def _torch_steps(network, optimizer, loss_fn, x, y, steps):
    import torch
    from keras.src.backend.torch.core import get_device

    key = (id(network), id(optimizer))
    if key not in _COMPILED:
        device = get_device()
        _COMPILED[key] = (torch.as_tensor(x, device=device), torch.as_tensor(y, device=device))
    x, y = _COMPILED[key]
    variables = network.trainable_variables
    loss = None
    for _ in range(steps):
        network.zero_grad()
        loss = loss_fn(y, network(x, training=True)) + sum(network.losses)
        optimizer.scale_loss(loss).backward()
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            optimizer.apply(grads, variables)
    float(loss)


def torch_peer(name, family, depth):
    """`(module, where it comes from)`: the PyTorch net that stands beside zoo net `name`.

    ImageNet nets are torchvision's where torchvision loads (its v1.5 layout, the stride in the
    3×3), else `torch_nets.imagenet_resnet` (the paper's v1); CIFAR nets are always
    `torch_nets.cifar_resnet` (option A, as the zoo's)."""
    import torch_nets

    if family == "cifar":
        return torch_nets.cifar_resnet(depth), "torch_nets"
    try:
        import torchvision
    except (ImportError, RuntimeError):  # PyPI's torchvision does not load beside a CPU build of torch.
        return torch_nets.imagenet_resnet(depth), "torch_nets"
    return getattr(torchvision.models, name)(num_classes=1000), "torchvision"


def torch_window(
    name, family, depth, batch_size, image_size, autocast_dtype, steps, warmup_steps=2, repeats=1, compile=True
):
    """The train step of the PyTorch peer of zoo net `name` (`torch_peer`), warmed up: channels-last, SGD with
    momentum and weight decay, autocast (with a gradient scaler for float16) when asked, under
    `torch.compile` unless `compile` is false.

    Args:
        name: str. A zoo name, `"resnet20"` … `"resnet152"`.
        family: `"imagenet"` or `"cifar"`.
        depth: int. Its layers.
        batch_size: int.
        image_size: int. Side of the random images (CIFAR nets: 32 whatever is given).
        autocast_dtype: `None`, `"bfloat16"` or `"float16"`.
        steps: int. Timed steps.
        warmup_steps: int. Untimed steps first (the first compiles). Defaults to `2`.
        repeats: int. Times the timed steps run; the fastest counts. Defaults to `1`.
        compile: bool. `torch.compile` the net. Defaults to `True`.

    Returns:
        `(window, device name, where the net comes from)`: `window()` returns the seconds of the
        fastest of `repeats` runs of `steps` steps (`fastest`).
    """
    import torch
    import torch_nets

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model, origin = torch_peer(name, family, depth)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = torch_nets.optimizer(model)
    forward = torch.compile(model) if compile else model
    dtype = getattr(torch, autocast_dtype) if autocast_dtype else None
    scaler = torch.amp.GradScaler(device) if dtype == torch.float16 else None
    size, classes = (32, 10) if family == "cifar" else (image_size, 1000)
    x = torch.randn(batch_size, 3, size, size, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch_size,), device=device)

    def run(count):
        loss = None
        for _ in range(count):
            with torch.autocast(device_type=device, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = torch.nn.functional.cross_entropy(forward(x), y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
        float(loss.detach())

    run(max(1, warmup_steps))
    return fastest(lambda: run(steps), repeats), device, origin


def accelerator():
    """`"gpu"`, `"tpu"` or `"cpu"`: where the current Keras backend runs."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.default_backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return "cpu"


def peak_memory():
    """`(MiB, kind)`: the accelerator's peak bytes in use where the backend reports them
    (`"device"`), else this process's peak resident set size (`"host_rss"`)."""
    backend = keras.backend.backend()
    try:
        if backend == "jax" and accelerator() != "cpu":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            if "peak_bytes_in_use" in stats:
                return stats["peak_bytes_in_use"] / 2**20, "device"
        if backend == "tensorflow" and accelerator() == "gpu":
            import tensorflow as tf

            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, "device"
        if "torch" in sys.modules:
            import torch

            if torch.cuda.is_available() and torch.cuda.max_memory_allocated():
                return torch.cuda.max_memory_allocated() / 2**20, "device"
    except (RuntimeError, ValueError, AttributeError):
        pass
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux.
    return rss_kib / 1024, "host_rss"
