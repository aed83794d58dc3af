"""What each block computes, checked against hand computations in numpy."""

import keras
import numpy as np
import pytest

import keras_resnet

RNG = np.random.default_rng(0)


def small_net(kind="residual", shortcut="A", block="basic", **kwargs):
    """Two stages of one block each, on 16×16: the second block changes dimensions."""
    return keras_resnet.build_network(
        "cifar",
        stages=(1, 1),
        widths=(4, 8),
        block=block,
        kind=kind,
        shortcut=shortcut,
        input_shape=(16, 16, 3),
        include_top=False,
        **kwargs,
    )


def randomize_batch_norms(model):
    """Gives every BN random γ, β and moving statistics, so that inference BN is not a no-op."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            scaled = gamma != 0  # a zero-initialised BN stays scaled to zero: γ = β = 0
            layer.set_weights(
                [
                    RNG.uniform(0.5, 1.5, gamma.shape) * scaled,
                    RNG.normal(0, 0.1, beta.shape) * scaled,
                    RNG.normal(0, 0.1, mean.shape),
                    RNG.uniform(0.5, 1.5, var.shape),
                ]
            )


def outputs(model, names, x):
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    return [np.asarray(y) for y in probe(x, training=False)]


def batch_norm(layer, x):
    gamma, beta, mean, var = layer.get_weights()
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta


def projection(model, name, x, stride):
    """1×1 conv with stride (the top-left pixel of each window), then inference BN."""
    kernel = model.get_layer(f"{name}_0_conv").get_weights()[0][0, 0]
    return batch_norm(model.get_layer(f"{name}_0_bn"), x[:, ::stride, ::stride, :] @ kernel)


def zero_pad(x, filters, stride):
    x = x[:, ::stride, ::stride, :]
    return np.concatenate([x, np.zeros(x.shape[:-1] + (filters - x.shape[-1],))], axis=-1)


IMAGES = RNG.uniform(0, 1, (2, 16, 16, 3)).astype("float32")


@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_zeroed_residual_branch_leaves_each_block_its_shortcut(shortcut, block):
    model = small_net(shortcut=shortcut, block=block, zero_init_residual=True)
    randomize_batch_norms(model)
    stem, first, second = outputs(model, ["conv1_relu", "conv2_block1_out", "conv3_block1_out"], IMAGES)
    expansion = 4 if block == "bottleneck" else 1
    if shortcut == "A":
        expected_first = zero_pad(stem, 4 * expansion, 1)
    elif shortcut == "B" and expansion == 1:
        expected_first = stem
    else:  # C, or B where the bottleneck's ×4 expansion changes the channels
        expected_first = projection(model, "conv2_block1", stem, 1)
    np.testing.assert_allclose(first, np.maximum(expected_first, 0), atol=1e-5)
    expected_second = (
        zero_pad(first, 8 * expansion, 2) if shortcut == "A" else projection(model, "conv3_block1", first, 2)
    )
    np.testing.assert_allclose(second, np.maximum(expected_second, 0), atol=1e-5)
    if shortcut == "B" and expansion == 1:
        np.testing.assert_array_equal(first, stem)  # the identity, exactly


def test_residual_block_adds_its_input_to_the_branch():
    model = small_net()
    randomize_batch_norms(model)
    x, branch, y = outputs(model, ["conv1_relu", "conv2_block1_2_bn", "conv2_block1_out"], IMAGES)
    np.testing.assert_allclose(y, np.maximum(branch + x, 0), atol=1e-5)


def test_plain_block_has_no_shortcut():
    model = small_net(kind="plain", shortcut=None)
    branch, y = outputs(model, ["conv3_block1_2_bn", "conv3_block1_out"], IMAGES)
    np.testing.assert_allclose(y, np.maximum(branch, 0), atol=1e-6)
    assert not any(isinstance(layer, keras.layers.Add) for layer in model.layers)


def test_zero_pad_shortcut_equals_hand_computation():
    x = RNG.normal(size=(2, 5, 7, 3)).astype("float32")
    y = keras_resnet.ZeroPadShortcut(filters=8, strides=2)(x)
    assert y.shape == (2, 3, 4, 8)
    np.testing.assert_array_equal(np.asarray(y), zero_pad(x, 8, 2))


def set_gates(model, bias):
    for layer in model.layers:
        if layer.name.endswith("_gate_conv"):
            kernel, b = layer.get_weights()
            layer.set_weights([np.zeros_like(kernel), np.full_like(b, bias)])


def test_highway_block_with_gate_shut_carries_its_input():
    model = small_net(kind="highway", shortcut="A")
    randomize_batch_norms(model)
    set_gates(model, -1e4)  # T(x) = sigmoid(-1e4) = 0
    stem, first, second = outputs(model, ["conv1_relu", "conv2_block1_out", "conv3_block1_out"], IMAGES)
    np.testing.assert_array_equal(first, stem)
    np.testing.assert_allclose(second, zero_pad(first, 8, 2), atol=1e-6)


def test_highway_block_with_gate_open_is_the_plain_block():
    highway = small_net(kind="highway", shortcut="A")
    plain = small_net(kind="plain", shortcut=None)
    randomize_batch_norms(highway)
    set_gates(highway, 1e4)  # T(x) = 1
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(highway.get_layer(layer.name).get_weights())
    np.testing.assert_allclose(
        np.asarray(highway(IMAGES, training=False)), np.asarray(plain(IMAGES, training=False)), atol=1e-5
    )


def test_highway_gates_start_mostly_carrying():
    model = keras_resnet.HighwayNet20(gate_bias=-3.0)
    gates = [layer for layer in model.layers if layer.name.endswith("_gate_conv")]
    assert len(gates) == 9
    for gate in gates:
        np.testing.assert_array_equal(gate.get_weights()[1], -3.0)
        assert gate.activation is keras.activations.sigmoid


def test_convs_have_no_bias_and_he_init_and_bn_follows():
    model = keras_resnet.ResNet20()
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 19
    for conv in convs:
        assert not conv.use_bias
        assert isinstance(conv.kernel_initializer, keras.initializers.HeNormal)
        bn = model.get_layer(conv.name.replace("_conv", "_bn"))
        assert isinstance(bn, keras.layers.BatchNormalization)
    # He init: the kernel's standard deviation is sqrt(2 / fan_in) (fan_in = 3·3·64 here).
    kernel = model.get_layer("conv4_block3_2_conv").get_weights()[0]
    assert kernel.std() == pytest.approx(np.sqrt(2 / (3 * 3 * 64)), rel=0.05)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's gradient tape")
def test_batch_norm_trains_as_the_formula_says_and_as_keras_does():
    """The blocks' BN (TensorFlow's fused kernel on a CPU): batch moments over N, H, W, the biased
    variance in the moving average, ε 1e-5; the same output and gradients as Keras' layer."""
    import tensorflow as tf

    from keras_resnet import layers

    x = RNG.normal(3.0, 2.0, (4, 5, 5, 8)).astype("float32")
    ours = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    theirs = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    for layer in (ours, theirs):
        layer.build(x.shape)
        layer.gamma.assign(RNG.uniform(0.5, 1.5, 8)), layer.beta.assign(RNG.normal(size=8))
    theirs.set_weights(ours.get_weights())
    assert layers._fused_kernel_runs(ours, x) == (not tf.config.list_logical_devices("GPU"))
    gamma, beta = keras.ops.convert_to_numpy(ours.gamma), keras.ops.convert_to_numpy(ours.beta)
    mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    expected = (x - mean) / np.sqrt(variance + 1e-5) * gamma + beta
    upstream = RNG.normal(size=x.shape).astype("float32")
    results = []
    for layer in (ours, theirs):
        inputs = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = layer(inputs, training=True)
            loss = tf.reduce_sum(y * upstream)
        results.append((y, *tape.gradient(loss, [inputs, layer.gamma, layer.beta])))
        np.testing.assert_allclose(y, expected, atol=1e-4)
        np.testing.assert_allclose(layer.moving_mean, 0.1 * mean, rtol=1e-5)
        np.testing.assert_allclose(layer.moving_variance, 0.9 + 0.1 * variance, rtol=1e-5)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_the_blocks_use_the_fused_batch_norm_and_it_saves_as_itself(tmp_path):
    from keras_resnet import layers

    model = small_net()
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(type(layer) is layers.BatchNormalization for layer in norms)
    model.save(tmp_path / "net.keras")
    loaded = keras.saving.load_model(tmp_path / "net.keras", safe_mode=True)
    assert type(loaded.get_layer(norms[0].name)) is layers.BatchNormalization
