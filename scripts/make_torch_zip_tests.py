#!/usr/bin/python3
"""Writes the torch zip test files of tests/data/torch/ (see its README.md).

small.pt   torch.save of an OrderedDict state dict with F32/F16/BF16/I64 tensors, a transposed
           view sharing its storage, a slice with a storage offset, a scalar and a Parameter.
evil.pt    a zip with the same layout whose data.pkl calls os.system: must be refused.
expected.txt  per tensor: name dtype shape strides offset and the float sum of the elements.
"""
import collections, io, os, pickle, zipfile
import torch

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "torch")
torch.manual_seed(0)
base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8.0
sd = collections.OrderedDict()
sd["a.f32"] = base
sd["a.t"] = base.t()                      # shares base's storage, strides (1, 4)
sd["b.f16"] = (torch.arange(6, dtype=torch.float32) - 2.5).to(torch.float16).reshape(2, 3)
sd["c.bf16"] = torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16)
sd["d.i64"] = torch.arange(5, dtype=torch.int64)
sd["e.slice"] = torch.arange(10, dtype=torch.float32)[3:7]   # offset 3 into a storage of 10
sd["f.scalar"] = torch.tensor(7.0)
sd["g.param"] = torch.nn.Parameter(torch.tensor([[0.5, 0.25]]))
sd._metadata = collections.OrderedDict([("", {"version": 1})])
torch.save(sd, os.path.join(here, "small.pt"))

with open(os.path.join(here, "expected.txt"), "w") as f:
    back = torch.load(os.path.join(here, "small.pt"))
    for k, v in back.items():
        f.write("%s %s %s %s %d %.6f\n" % (k, str(v.dtype).replace("torch.", ""),
                ",".join(map(str, v.shape)) or "-", ",".join(map(str, v.stride())) or "-",
                v.storage_offset(), float(v.double().sum())))

# Same container, but the pickle reaches for os.system.
class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))
buf = io.BytesIO()
pickle.dump({"x": Evil()}, buf, protocol=2)
with zipfile.ZipFile(os.path.join(here, "evil.pt"), "w", zipfile.ZIP_STORED) as z:
    z.writestr("evil/data.pkl", buf.getvalue())
    z.writestr("evil/version", "3\n")
