"""What `--mean_images` costs in accuracy of the per-pixel mean, on real images.

Writes a data set of real photographs' statistics as an ImageNet-layout folder of PNGs (by default
Fashion-MNIST's 60,000 training images, from MNIST-format IDX files such as Debian's
`dataset-fashion-mnist` installs), computes the per-pixel mean of the evaluation crop over all of
them and over random samples of `--samples` images (`pixel_mean.compute_pixel_mean`, the
recipe's own sample: the first images of pass 0 of the training order), and prints how far each
sample's mean lies from the whole set's, in grey levels, beside the standard error σ/√k that
predicts it (σ: the pixels' standard deviation over the images).

  python benchmarks/mean_sample.py --data=/usr/share/datasets/fashion-mnist --samples=1000,5000,10000,20000
"""

import argparse
import os
import tempfile

import numpy as np

from keras_resnet.imagenet import pixel_mean


def write_folder(images, labels, root):
    import tensorflow as tf

    if os.path.exists(os.path.join(root, "done")):
        return
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(root, "train", f"c{int(label):02d}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
            f.write(tf.io.encode_png(np.repeat(image[..., None], 3, axis=-1)).numpy())
    open(os.path.join(root, "done"), "w").close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default="/usr/share/datasets/fashion-mnist", help="a folder of MNIST-format IDX files"
    )
    parser.add_argument("--samples", default="1000,5000,10000,20000")
    parser.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "mean_sample"))
    args = parser.parse_args()
    from keras_resnet.cifar import idx
    from keras_resnet.imagenet import config, sources

    arrays = idx.load_idx_folder(args.data)
    x, y = arrays["x_train"], arrays["y_train"]
    images = x[..., 0] if x.ndim == 4 else x
    write_folder(images, y, args.root)
    size = images.shape[1]
    cfg = config.imagenet(image_size=size, eval_resize=size, scale_range=(size, size))
    source = sources.folder_source(args.root)
    whole = pixel_mean.compute_pixel_mean(source, cfg).astype(np.float64)
    sigma = float(images.astype(np.float64).std(axis=0).mean())
    print(f"{len(images):,} images of {size}×{size}; per-pixel std over the images σ = {sigma:.1f} grey levels\n")
    print("| images averaged | max \\|Δ\\| | RMS Δ | σ/√k |")
    print("|---:|---:|---:|---:|")
    for k in (int(s) for s in args.samples.split(",")):
        difference = pixel_mean.compute_pixel_mean(source, cfg, max_images=k).astype(np.float64) - whole
        print(
            f"| {k:,} | {np.abs(difference).max():.2f} | {np.sqrt(np.mean(difference**2)):.2f} | "
            f"{sigma / np.sqrt(k) * np.sqrt(1 - k / len(images)):.2f} |"
        )


if __name__ == "__main__":
    main()
