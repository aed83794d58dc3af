"""ImageNet's colour augmentation as a layer, so it runs inside the compiled training step
(Sec. 3.4: "The standard color augmentation [AlexNet] is used"): `PCALighting` adds each image's
AlexNet shift, for the α the input pipeline draws.
"""

import keras
import numpy as np
from keras import ops


def lighting_shift(alpha, eigval, eigvec):
    """AlexNet's PCA colour shift `eigvec @ (alpha * eigval) × 255` (Krizhevsky et al. 2012, Sec. 4.1).

    Args:
        alpha: `[batch, 3]` tensor, one α per image (drawn from N(0, σ²)).
        eigval: `[3]` eigenvalues of the RGB covariance of pixels in [0, 1].
        eigvec: `[3, 3]` eigenvectors, one per column.

    Returns:
        float32 `[batch, 3]`: the value added to every pixel of each image.

    Example:

    >>> import numpy as np
    >>> shift = lighting_shift(np.array([[1.0, 0.0, 0.0]]), [0.2, 0.0, 0.0], np.eye(3))
    >>> np.round(keras.ops.convert_to_numpy(shift), 3).tolist()
    [[51.0, 0.0, 0.0]]
    """
    alpha = ops.cast(alpha, "float32")
    scaled = alpha * ops.convert_to_tensor(np.asarray(eigval, "float32"))[None, :]
    return ops.matmul(scaled, ops.transpose(ops.convert_to_tensor(np.asarray(eigvec, "float32")))) * 255.0


@keras.saving.register_keras_serializable(package="keras_resnet")
class PCALighting(keras.layers.Layer):
    """Adds AlexNet's PCA colour shift to each image, for the α given with it.

    Called on `[images, alpha]`: images `[batch, height, width, 3]` in [0, 255] (any dtype),
    alpha `[batch, 3]`. The α are an input rather than drawn here, so the input pipeline's
    seeded draws decide them (deterministic, and the same after a resume) and evaluation passes
    zeros. Returns the images as float32 (the layer's compute dtype).

    Args:
        eigval: `[3]` eigenvalues of the RGB covariance (pixels in [0, 1]).
        eigvec: `[3, 3]` eigenvectors, one per column.
        **kwargs: base `Layer` arguments.

    Example:

    >>> import numpy as np
    >>> layer = PCALighting([0.2, 0.0, 0.0], np.eye(3))
    >>> out = layer([np.zeros((1, 1, 2, 3), "uint8"), np.array([[0.5, 1.0, 1.0]])])
    >>> np.round(keras.ops.convert_to_numpy(out), 3).tolist()
    [[[[25.5, 0.0, 0.0], [25.5, 0.0, 0.0]]]]
    """

    def __init__(self, eigval, eigvec, **kwargs):
        super().__init__(**kwargs)
        self.eigval = tuple(float(v) for v in np.asarray(eigval).ravel())
        self.eigvec = tuple(tuple(float(v) for v in row) for row in np.asarray(eigvec))
        if len(self.eigval) != 3 or np.asarray(self.eigvec).shape != (3, 3):
            raise ValueError(
                f"PCALighting needs 3 eigenvalues and a 3×3 eigenvector matrix. Received: "
                f"eigval={eigval!r}, eigvec={eigvec!r}"
            )

    def call(self, inputs):
        images, alpha = inputs
        shift = ops.cast(lighting_shift(alpha, self.eigval, self.eigvec), self.compute_dtype)
        return ops.cast(images, self.compute_dtype) + shift[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"eigval": self.eigval, "eigvec": self.eigvec})
        return config
