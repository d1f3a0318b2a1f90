"""Keras 3 functional configs of small real architectures, written as data (no Keras needed).

``mobilenet_v2_config(size)`` is MobileNetV2's layer graph (inverted residual blocks with
depthwise convolutions, BatchNormalization, ReLU6 and additive skips, Keras's layer names);
``resnet_config(...)`` a small ResNet v1 (conv-BN-ReLU blocks with identity or projection
shortcuts). Used by the ModelEditor benchmark, notebook 04's model generator and tests.
"""

from __future__ import annotations

from typing import Any


def _init(name: str) -> dict[str, Any]:
    return {"module": "keras.initializers", "class_name": name, "config": {"seed": None},
            "registered_name": None}


class Graph:
    """Appends layer entries with Keras 3 ``inbound_nodes``; names are unique."""

    def __init__(self, name: str):
        self.name = name
        self.layers: list[dict[str, Any]] = []
        self.inputs: list[str] = []

    def input(self, name: str, shape: list[int]) -> str:
        self.layers.append({"module": "keras.layers", "class_name": "InputLayer",
                            "config": {"batch_shape": [None, *shape], "dtype": "float32",
                                       "name": name},
                            "registered_name": None, "name": name, "inbound_nodes": []})
        self.inputs.append(name)
        return name

    def add(self, class_name: str, name: str, inputs: str | list[str],
            **config: Any) -> str:
        def ref(n: str) -> dict[str, Any]:
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": None, "dtype": "float32", "keras_history": [n, 0, 0]}}

        args = [ref(inputs)] if isinstance(inputs, str) else [[ref(n) for n in inputs]]
        self.layers.append({"module": "keras.layers", "class_name": class_name,
                            "config": {"name": name, **config}, "registered_name": None,
                            "name": name, "inbound_nodes": [{"args": args, "kwargs": {}}]})
        return name

    def keras_order(self, output: str) -> list[dict[str, Any]]:
        """The layers in the order real Keras lists them (``keras.src.ops.function.map_graph``:
        by depth from the inputs, ties by first visit in a depth-first walk from the output).
        A ``.keras`` file's weights are matched to layers in this order."""
        inputs = {e["name"]: [r["config"]["keras_history"][0]
                              for n in e["inbound_nodes"] for a in n["args"]
                              for r in (a if isinstance(a, list) else [a])]
                  for e in self.layers}
        index: dict[str, int] = {}
        post: list[str] = []

        def visit(name: str) -> None:
            if name in post:
                return
            index.setdefault(name, len(index))
            for parent in inputs[name]:
                visit(parent)
            post.append(name)

        visit(output)
        depth: dict[str, int] = {}
        for name in reversed(post):
            d = depth.setdefault(name, 0)
            for parent in inputs[name]:
                depth[parent] = max(depth.get(parent, 0), d + 1)
        by_name = {e["name"]: e for e in self.layers}
        return [by_name[n] for n in sorted(post, key=lambda n: (-depth[n], index[n]))]

    def config(self, output: str) -> dict[str, Any]:
        return {"module": "keras.src.models.functional", "class_name": "Functional",
                "config": {"name": self.name, "trainable": True,
                           "layers": self.keras_order(output),
                           "input_layers": [[n, 0, 0] for n in self.inputs],
                           "output_layers": [[output, 0, 0]]},
                "registered_name": "Functional", "build_config": {"input_shape": None}}


def _conv_bn(g: Graph, x: str, name: str, filters: int, kernel: int, strides: int = 1,
             act: str | None = "relu", kinit: str = "HeNormal") -> str:
    x = g.add("Conv2D", name, x, filters=filters, kernel_size=[kernel, kernel],
              strides=[strides, strides], padding="same", use_bias=False,
              kernel_initializer=_init(kinit))
    x = g.add("BatchNormalization", f"{name}_bn", x, momentum=0.9, epsilon=1e-5)
    return g.add("ReLU", f"{name}_relu", x) if act else x


def resnet_config(size: int = 32, widths: tuple[int, ...] = (8, 16, 32), blocks: int = 2,
                  classes: int = 10, name: str = "resnet") -> dict[str, Any]:
    """A small ResNet v1: stem conv, ``blocks`` basic blocks per stage (the first of each
    later stage strides 2 with a projection shortcut), global pooling, a softmax head."""
    g = Graph(name)
    x = g.input("image", [size, size, 3])
    x = g.add("Rescaling", "rescale", x, scale=1.0 / 255, offset=0.0)
    x = _conv_bn(g, x, "stem", widths[0], 3)
    for s, width in enumerate(widths, 1):
        for b in range(1, blocks + 1):
            stride = 2 if s > 1 and b == 1 else 1
            p = f"s{s}b{b}"
            y = _conv_bn(g, x, f"{p}_conv1", width, 3, stride)
            y = _conv_bn(g, y, f"{p}_conv2", width, 3, act=None)
            short = x
            if stride != 1:
                short = _conv_bn(g, x, f"{p}_proj", width, 1, stride, act=None)
            x = g.add("Add", f"{p}_add", [short, y])
            x = g.add("ReLU", f"{p}_out", x)
    x = g.add("GlobalAveragePooling2D", "pool", x)
    x = g.add("Dense", "logits", x, units=classes, activation="softmax",
              kernel_initializer=_init("GlorotUniform"))
    return g.config(x)


#: MobileNetV2's inverted residual settings: (expansion t, channels c, repeats n, stride s)
_MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                 (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2_config(size: int = 96, classes: int = 1000, alpha: float = 1.0,
                        name: str = "mobilenetv2") -> dict[str, Any]:
    """MobileNetV2 (Sandler et al. 2018) with Keras's layer names (``block_6_expand``...)."""

    def ch(c: float) -> int:  # Keras's _make_divisible(c, 8)
        v = max(8, int(c + 4) // 8 * 8)
        return v + 8 if v < 0.9 * c else v

    def bn(x: str, n: str) -> str:
        return g.add("BatchNormalization", n, x, epsilon=1e-3, momentum=0.999)

    g = Graph(name)
    x = g.input("input_1", [size, size, 3])
    x = g.add("Conv2D", "Conv1", x, filters=ch(32 * alpha), kernel_size=[3, 3], strides=[2, 2],
              padding="same", use_bias=False)
    x = g.add("ReLU", "Conv1_relu", bn(x, "bn_Conv1"), max_value=6.0)
    in_ch, block = ch(32 * alpha), 0
    for t, c, n, s in _MOBILENET_V2:
        out_ch = ch(c * alpha)
        for i in range(n):
            p = f"block_{block}_" if block else "expanded_conv_"
            y = x
            if t != 1:
                y = g.add("Conv2D", f"{p}expand", y, filters=in_ch * t, kernel_size=[1, 1],
                          padding="same", use_bias=False)
                y = g.add("ReLU", f"{p}expand_relu", bn(y, f"{p}expand_BN"), max_value=6.0)
            stride = s if i == 0 else 1
            y = g.add("DepthwiseConv2D", f"{p}depthwise", y, kernel_size=[3, 3],
                      strides=[stride, stride], padding="same", use_bias=False)
            y = g.add("ReLU", f"{p}depthwise_relu", bn(y, f"{p}depthwise_BN"), max_value=6.0)
            y = g.add("Conv2D", f"{p}project", y, filters=out_ch, kernel_size=[1, 1],
                      padding="same", use_bias=False)
            y = bn(y, f"{p}project_BN")
            if stride == 1 and in_ch == out_ch:
                y = g.add("Add", f"{p}add", [x, y])
            x, in_ch, block = y, out_ch, block + 1
    x = g.add("Conv2D", "Conv_1", x, filters=1280 if alpha <= 1 else ch(1280 * alpha),
              kernel_size=[1, 1], use_bias=False)
    x = g.add("ReLU", "out_relu", bn(x, "Conv_1_bn"), max_value=6.0)
    x = g.add("GlobalAveragePooling2D", "global_average_pooling2d", x)
    x = g.add("Dense", "predictions", x, units=classes, activation="softmax")
    return g.config(x)


def resnet50_config(size: int = 224, classes: int = 1000) -> dict[str, Any]:
    """ResNet50 v1 (He et al. 2016): bottleneck blocks [3, 4, 6, 3], Keras's layer names."""
    g = Graph("resnet50")
    x = g.input("input_1", [size, size, 3])
    x = g.add("ZeroPadding2D", "conv1_pad", x, padding=[[3, 3], [3, 3]])
    x = g.add("Conv2D", "conv1_conv", x, filters=64, kernel_size=[7, 7], strides=[2, 2])
    x = g.add("BatchNormalization", "conv1_bn", x, epsilon=1.001e-5)
    x = g.add("Activation", "conv1_relu", x, activation="relu")
    x = g.add("ZeroPadding2D", "pool1_pad", x, padding=[[1, 1], [1, 1]])
    x = g.add("MaxPooling2D", "pool1_pool", x, pool_size=[3, 3], strides=[2, 2])
    for stage, (filters, blocks, stride) in enumerate(
            ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), 2):
        for b in range(1, blocks + 1):
            p = f"conv{stage}_block{b}_"
            s = stride if b == 1 else 1
            short = x
            if b == 1:
                short = g.add("Conv2D", p + "0_conv", x, filters=4 * filters,
                              kernel_size=[1, 1], strides=[s, s])
                short = g.add("BatchNormalization", p + "0_bn", short, epsilon=1.001e-5)
            y = g.add("Conv2D", p + "1_conv", x, filters=filters, kernel_size=[1, 1],
                      strides=[s, s])
            y = g.add("BatchNormalization", p + "1_bn", y, epsilon=1.001e-5)
            y = g.add("Activation", p + "1_relu", y, activation="relu")
            y = g.add("Conv2D", p + "2_conv", y, filters=filters, kernel_size=[3, 3],
                      padding="same")
            y = g.add("BatchNormalization", p + "2_bn", y, epsilon=1.001e-5)
            y = g.add("Activation", p + "2_relu", y, activation="relu")
            y = g.add("Conv2D", p + "3_conv", y, filters=4 * filters, kernel_size=[1, 1])
            y = g.add("BatchNormalization", p + "3_bn", y, epsilon=1.001e-5)
            x = g.add("Add", p + "add", [short, y])
            x = g.add("Activation", p + "out", x, activation="relu")
    x = g.add("GlobalAveragePooling2D", "avg_pool", x)
    x = g.add("Dense", "predictions", x, units=classes, activation="softmax")
    return g.config(x)
