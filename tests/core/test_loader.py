"""The loader on damaged checkpoints: each fails with a clear error naming the file and tensor, early.

Every case starts from a valid tiny checkpoint in the real HF layout and damages one thing. The positive
cases check sharded files, bf16/fp16 sources, tied embeddings and every precision on each architecture.
"""

from __future__ import annotations

import gc
import json
import pickle
import shutil
import struct
from pathlib import Path

import psutil
import pytest
import torch
from safetensors.torch import load_file, save_file

from core.bench.random_checkpoint import write_random_checkpoint
from core.kernels import cpu_gemm
from core.models import quant
from core.models.checkpoint import CheckpointError
from core.model_config import ModelConfigError
from core.kernels.build import kernel_status
from core.models.loader import load_model
from core.precision import PRECISIONS
from tests.checkpoints import FIXTURES, random_checkpoint, tiny_config

ARCHS = ["qwen2", "llama", "qwen3"]


# --- helpers -------------------------------------------------------------------------------------------
def read_safetensors(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_safetensors(path: Path, header: dict, data: bytes) -> None:
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def last_tensor(header: dict) -> str:
    """The tensor whose data ends last in the file (the one a truncation cuts)."""
    return max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1])


def write_config(path: Path, **overrides) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(tiny_config("qwen2", **overrides)))
    return path


def forward(loaded, n: int = 24) -> torch.Tensor:
    tokens = torch.randint(0, loaded.config.vocab_size, (1, n), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        return loaded.model(tokens, torch.arange(n)[None]).float()


@pytest.fixture
def ckpt(tmp_path) -> Path:
    return random_checkpoint(tmp_path / "m", "qwen2", seed=3)


@pytest.fixture
def sharded(tmp_path) -> Path:
    path = write_random_checkpoint(tmp_path / "sharded", tiny_config("qwen2"), seed=3, max_shard_bytes=200_000)
    assert len(list(path.glob("model-*-of-*.safetensors"))) >= 3
    return path


@pytest.fixture
def no_big_allocation(monkeypatch):
    """Records each step of the loader that allocates: building the model, filling a parameter.

    (Spying on ``torch.empty`` itself would poison torch's cached list of device constructors.)
    """
    import core.models.loader as loader

    calls: list[str] = []

    def spy(name, original):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(loader, "Transformer", spy("Transformer", loader.Transformer))
    monkeypatch.setattr(loader, "_load_target", spy("_load_target", loader._load_target))
    return calls


# --- missing and escaping shards -------------------------------------------------------------------------
def test_missing_shard_is_named(sharded):
    victim = sorted(sharded.glob("model-*.safetensors"))[1]
    victim.unlink()
    with pytest.raises(CheckpointError) as err:
        load_model(sharded)
    msg = str(err.value)
    assert "model.safetensors.index.json" in msg and victim.name in msg
    assert "missing" in msg and "download it again" in msg


@pytest.mark.parametrize("bad", ["../evil.safetensors", "/tmp/evil.safetensors", "sub/../../x.safetensors",
                                 "sub/x.safetensors"])
def test_index_shard_path_leaving_the_folder_is_refused(sharded, bad):
    index_path = sharded / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    name = next(iter(index["weight_map"]))
    index["weight_map"][name] = bad
    index_path.write_text(json.dumps(index))
    (sharded.parent / "evil.safetensors").write_bytes(b"")  # exists, so only the path check can refuse it
    with pytest.raises(CheckpointError, match="leaves the model folder; refusing to read it") as err:
        load_model(sharded)
    assert repr(bad) in str(err.value) and "model.safetensors.index.json" in str(err.value)


def test_index_shard_symlinked_outside_is_refused(sharded, tmp_path):
    outside = tmp_path / "outside.safetensors"
    shard = sorted(sharded.glob("model-*.safetensors"))[0]
    shutil.move(shard, outside)
    shard.symlink_to(outside)
    with pytest.raises(CheckpointError, match=f"shard path '{shard.name}' leaves the model folder"):
        load_model(sharded)


def test_index_that_is_not_json_is_named(sharded):
    (sharded / "model.safetensors.index.json").write_text('{"weight_map": {')
    with pytest.raises(CheckpointError, match=r"model\.safetensors\.index\.json: not a valid safetensors index"):
        load_model(sharded)


def test_tensor_in_two_shards_is_named(sharded):
    shards = sorted(sharded.glob("model-*.safetensors"))
    first = load_file(shards[0])
    name = next(iter(first))
    second = load_file(shards[1])
    second[name] = first[name]
    save_file(second, shards[1])
    with pytest.raises(CheckpointError) as err:
        load_model(sharded)
    msg = str(err.value)
    assert repr(name) in msg and shards[0].name in msg and shards[1].name in msg and "also appears in" in msg


# --- truncated files ---------------------------------------------------------------------------------------
def test_truncated_data_section_names_the_last_tensor(ckpt):
    path = ckpt / "model.safetensors"
    header, _ = read_safetensors(path)
    raw = path.read_bytes()
    path.write_bytes(raw[:-100])
    with pytest.raises(CheckpointError) as err:
        load_model(ckpt)
    msg = str(err.value)
    assert msg.startswith("model.safetensors: ") and repr(last_tensor(header)) in msg
    assert f"only {len(raw) - 100} bytes" in msg and "truncated, download it again" in msg


def test_cut_inside_the_header(ckpt):
    path = ckpt / "model.safetensors"
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    path.write_bytes(raw[:8 + n // 2])
    with pytest.raises(CheckpointError) as err:
        load_model(ckpt)
    msg = str(err.value)
    assert msg.startswith("model.safetensors: corrupt header")
    assert f"declares {n} bytes in a {8 + n // 2}-byte file" in msg and "download it again" in msg


@pytest.mark.parametrize("size", [0, 5])
def test_file_shorter_than_the_length_prefix(ckpt, size):
    path = ckpt / "model.safetensors"
    path.write_bytes(path.read_bytes()[:size])
    with pytest.raises(CheckpointError,
                       match=rf"^model\.safetensors: file is truncated \({size} bytes\); download it again$"):
        load_model(ckpt)


# --- corrupt headers ---------------------------------------------------------------------------------------
def test_garbage_header_json(ckpt):
    path = ckpt / "model.safetensors"
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    path.write_bytes(raw[:8] + b"{garbage" + b" " * (n - 8) + raw[8 + n:])
    with pytest.raises(CheckpointError, match=r"^model\.safetensors: corrupt header, not valid JSON .*download"):
        load_model(ckpt)


def test_header_that_is_not_an_object(ckpt):
    path = ckpt / "model.safetensors"
    _, data = read_safetensors(path)
    write_safetensors(path, [1, 2], data)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match=r"^model\.safetensors: corrupt header \(not a JSON object\)"):
        load_model(ckpt)


@pytest.mark.parametrize("declared", [10_000, 2**40])
def test_header_length_larger_than_the_file(ckpt, declared):
    path = ckpt / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes(struct.pack("<Q", len(raw) + declared) + raw[8:])
    with pytest.raises(CheckpointError) as err:
        load_model(ckpt)
    msg = str(err.value)
    assert msg.startswith("model.safetensors: corrupt header")
    assert f"declares {len(raw) + declared} bytes in a {len(raw)}-byte file" in msg


def test_header_entry_with_wrong_byte_count(ckpt):
    path = ckpt / "model.safetensors"
    header, data = read_safetensors(path)
    name = "model.layers.0.mlp.down_proj.weight"
    header[name]["shape"] = [64, 161]  # data_offsets still cover 64 x 160 floats
    write_safetensors(path, header, data)
    with pytest.raises(CheckpointError) as err:
        load_model(ckpt)
    msg = str(err.value)
    assert msg.startswith("model.safetensors: ") and repr(name) in msg
    assert f"declares shape [64, 161] ({64 * 161 * 4} bytes) but {64 * 160 * 4} bytes of data" in msg
    assert "corrupt" in msg


def test_header_offsets_beyond_the_file(ckpt):
    path = ckpt / "model.safetensors"
    header, data = read_safetensors(path)
    name = "model.norm.weight"
    begin, end = header[name]["data_offsets"]
    header[name]["data_offsets"] = [begin + len(data), end + len(data)]
    write_safetensors(path, header, data)
    with pytest.raises(CheckpointError) as err:
        load_model(ckpt)
    msg = str(err.value)
    assert msg.startswith("model.safetensors: ") and repr(name) in msg
    assert "but the file has only" in msg and "truncated, download it again" in msg


@pytest.mark.parametrize("entry", [{"dtype": "F32", "shape": [64]},  # no data_offsets
                                   {"dtype": "F32", "shape": [-64], "data_offsets": [0, 0]},
                                   {"dtype": "F32", "shape": [64], "data_offsets": [256, 0]}])
def test_header_entry_malformed(ckpt, entry):
    path = ckpt / "model.safetensors"
    header, data = read_safetensors(path)
    header["model.norm.weight"] = entry
    write_safetensors(path, header, data)
    with pytest.raises(CheckpointError, match=r"^model\.safetensors: tensor 'model\.norm\.weight' has a malformed"):
        load_model(ckpt)


def test_header_unknown_dtype(ckpt):
    path = ckpt / "model.safetensors"
    header, data = read_safetensors(path)
    header["model.norm.weight"]["dtype"] = "F8_E4M3"
    write_safetensors(path, header, data)
    with pytest.raises(CheckpointError,
                       match=r"^model\.safetensors: tensor 'model\.norm\.weight' has unsupported dtype 'F8_E4M3'"):
        load_model(ckpt)


# --- checkpoint vs config.json ----------------------------------------------------------------------------
def test_hidden_size_differs_from_config(ckpt):
    config = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**config, "hidden_size": 96}))
    with pytest.raises(CheckpointError) as err:
        load_model(ckpt)
    assert str(err.value) == ("model.safetensors: tensor 'model.embed_tokens.weight' has shape [1000, 64], "
                              "expected [*, 96] from config.json")


def test_vocab_size_differs_from_config(ckpt):
    config = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**config, "vocab_size": 2000}))
    with pytest.raises(CheckpointError, match=r"^model\.safetensors: model\.embed_tokens\.weight has 1000 rows, "
                                              r"expected 2000 from config\.json"):
        load_model(ckpt)


def test_missing_tensor_is_named(ckpt):
    path = ckpt / "model.safetensors"
    tensors = load_file(path)
    del tensors["model.layers.1.self_attn.k_proj.weight"]
    save_file(tensors, path)
    with pytest.raises(CheckpointError) as err:
        load_model(ckpt)
    msg = str(err.value)
    assert "'model.layers.1.self_attn.k_proj.weight' is missing from the checkpoint" in msg
    assert "download is incomplete or the files do not match config.json" in msg


def test_missing_lm_head_when_untied(ckpt):
    path = ckpt / "model.safetensors"
    tensors = load_file(path)
    del tensors["lm_head.weight"]
    save_file(tensors, path)
    with pytest.raises(CheckpointError, match=r"'lm_head\.weight' is missing from the checkpoint "
                                              r"\(config says tie_word_embeddings=false\)"):
        load_model(ckpt)


def test_integer_weight_points_at_prequantised_checkpoints(ckpt):
    path = ckpt / "model.safetensors"
    tensors = load_file(path)
    name = "model.layers.0.self_attn.q_proj.weight"
    tensors[name] = torch.zeros(tensors[name].shape, dtype=torch.int32)
    save_file(tensors, path)
    with pytest.raises(CheckpointError) as err:
        load_model(ckpt)
    msg = str(err.value)
    assert msg.startswith(f"model.safetensors: tensor {name!r} has dtype I32")
    assert "GPTQ/AWQ" in msg and "pick int8/int4 in Ponder" in msg


# --- pickles and remote code are never run ------------------------------------------------------------
class _Payload:
    """Pickles to a call that creates ``marker``: proof that a load would have run code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_only_folder_is_refused_without_unpickling(tmp_path):
    folder = write_config(tmp_path / "m")
    marker = tmp_path / "pwned"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError) as err:
        load_model(folder)
    msg = str(err.value)
    assert "only pickle checkpoints found (pytorch_model.bin)" in msg
    assert "safetensors only" in msg and "arbitrary code" in msg
    assert not marker.exists()


@pytest.mark.parametrize("zip_format", [True, False])
def test_torch_save_file_named_safetensors_is_refused(tmp_path, zip_format):
    folder = write_config(tmp_path / "m")
    marker = tmp_path / "pwned"
    torch.save({"w": torch.zeros(4), "x": _Payload(marker)}, folder / "model.safetensors",
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(CheckpointError) as err:
        load_model(folder)
    msg = str(err.value)
    assert msg.startswith("model.safetensors: this is a pickle/zip file, not safetensors")
    assert "refuses to load pickles because they can run code" in msg
    assert not marker.exists()


def test_no_safetensors_at_all(tmp_path):
    folder = write_config(tmp_path / "m")
    with pytest.raises(CheckpointError, match="no model.safetensors or model.safetensors.index.json found"):
        load_model(folder)


def _remote_code(folder: Path, marker: Path) -> None:
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass EvilForCausalLM: pass\n")


def test_auto_map_with_unsupported_architecture_is_refused(tmp_path):
    folder = write_config(tmp_path / "m", architectures=["EvilForCausalLM"], model_type="evil",
                          auto_map={"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"})
    marker = tmp_path / "pwned"
    _remote_code(folder, marker)
    with pytest.raises(ModelConfigError) as err:
        load_model(folder)
    msg = str(err.value)
    assert "config.json" in msg and "architecture 'EvilForCausalLM' is not supported" in msg
    assert "supported: Qwen2ForCausalLM, LlamaForCausalLM, Qwen3ForCausalLM" in msg
    assert not marker.exists()


def test_auto_map_is_ignored_for_a_supported_architecture(ckpt, tmp_path):
    config = json.loads((ckpt / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (ckpt / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "pwned"
    _remote_code(ckpt, marker)
    loaded = load_model(ckpt)
    assert loaded.config.architecture == "qwen2" and not marker.exists()


# --- config.json ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, expected", [
    ({"vocab_size": 10**12}, "vocab_size=1000000000000 is beyond any supported model"),
    ({"hidden_size": 10**7}, "hidden_size=10000000 is beyond any supported model"),
    ({"num_hidden_layers": -2}, "num_hidden_layers must be a positive integer, got -2"),
    ({"num_hidden_layers": 0}, "num_hidden_layers must be a positive integer, got 0"),
    ({"num_attention_heads": 4, "num_key_value_heads": 3},
     "num_attention_heads=4 is not a multiple of num_key_value_heads=3"),
    ({"vocab_size": "1000"}, "vocab_size must be a positive integer, got '1000'"),
    ({"num_hidden_layers": 2.0}, "num_hidden_layers must be a positive integer, got 2.0"),
    ({"num_hidden_layers": True}, "num_hidden_layers must be a positive integer, got True"),
    ({"hidden_size": None}, "missing required field 'hidden_size'"),
    ({"rms_norm_eps": "tiny"}, "'tiny'"),
    ({"rope_theta": "huge"}, "'huge'"),
    ({"head_dim": 15}, "head_dim=15 must be even"),
    ({"hidden_act": "gelu"}, "hidden_act 'gelu' is not supported"),
    ({"architectures": [{"name": "Qwen2ForCausalLM"}]}, "is not supported; supported: Qwen2ForCausalLM"),
    ({"architectures": 7}, "architecture '(none given)' is not supported"),
    ({"use_sliding_window": True}, "sliding-window attention"),
    ({"vocab_size": 4_000_000, "hidden_size": 65_536, "num_hidden_layers": 1_000, "intermediate_size": 524_288,
      "num_attention_heads": 512, "num_key_value_heads": 512},  # each field in bounds, the product is not
     "T parameters; refusing to build it"),
])
def test_absurd_config_fails_before_any_allocation(tmp_path, no_big_allocation, overrides, expected):
    folder = write_config(tmp_path / "m", **overrides)
    with pytest.raises(ModelConfigError) as err:
        load_model(folder)
    assert expected in str(err.value)
    assert "config.json" in str(err.value)
    assert no_big_allocation == []


def test_no_config_json(ckpt):
    (ckpt / "config.json").unlink()
    with pytest.raises(ModelConfigError, match=r"config\.json not found: a model folder needs config\.json"):
        load_model(ckpt)


def test_invalid_config_json(ckpt):
    (ckpt / "config.json").write_text('{"architectures": ["Qwen2ForCausalLM"],')
    with pytest.raises(ModelConfigError, match=r"config\.json is not valid JSON"):
        load_model(ckpt)


def test_real_7b_config_with_tiny_tensors_fails_before_allocating(ckpt, no_big_allocation):
    """A 7B config (15 GB at fp32) over a 1 MB checkpoint: the shape error comes from the headers alone."""
    shutil.copy(FIXTURES / "configs" / "DeepSeek-R1-Distill-Qwen-7B.json", ckpt / "config.json")
    gc.collect()
    process = psutil.Process()
    rss_before = process.memory_info().rss
    with pytest.raises(CheckpointError) as err:
        load_model(ckpt, "fp32")
    grown = process.memory_info().rss - rss_before
    assert str(err.value) == ("model.safetensors: tensor 'model.embed_tokens.weight' has shape [1000, 64], "
                              "expected [*, 3584] from config.json")
    assert grown < 100 * 1024 * 1024, grown
    assert no_big_allocation == []


# --- what loads, loads exactly ------------------------------------------------------------------------------
def test_sharded_checkpoint_matches_single_file(sharded, tmp_path):
    single = write_random_checkpoint(tmp_path / "single", tiny_config("qwen2"), seed=3)
    a, b = load_model(single), load_model(sharded)
    logits = forward(a)
    assert logits.abs().max() > 1.0
    assert torch.equal(logits, forward(b))


@pytest.mark.parametrize("source", ["bfloat16", "float16"])
def test_half_precision_sources_load_at_fp32_exactly(tmp_path, source):
    folder = random_checkpoint(tmp_path / "m", "qwen2", seed=5, torch_dtype=source)
    src = load_file(folder / "model.safetensors")
    assert src["model.embed_tokens.weight"].dtype == {"bfloat16": torch.bfloat16, "float16": torch.float16}[source]
    loaded = load_model(folder, "fp32")
    model = loaded.model
    assert loaded.compute_dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert torch.equal(model.embed_tokens.weight, src["model.embed_tokens.weight"].float())
    assert torch.equal(model.lm_head.weight, src["lm_head.weight"].float())
    p = "model.layers.1."
    attn = model.layers[1].self_attn
    assert torch.equal(attn.qkv_proj.weight, torch.cat([src[p + f"self_attn.{x}_proj.weight"] for x in "qkv"]).float())
    assert torch.equal(attn.qkv_proj.bias, torch.cat([src[p + f"self_attn.{x}_proj.bias"] for x in "qkv"]).float())
    mlp = model.layers[1].mlp
    assert torch.equal(mlp.gate_up_proj.weight,
                       torch.cat([src[p + "mlp.gate_proj.weight"], src[p + "mlp.up_proj.weight"]]).float())
    assert torch.equal(model.layers[1].post_attention_layernorm.weight,
                       src[p + "post_attention_layernorm.weight"].float())
    assert torch.isfinite(forward(loaded)).all()


def test_tied_embeddings_share_one_tensor_at_fp32_and_quantise_the_head_at_int8(tmp_path):
    folder = random_checkpoint(tmp_path / "m", "qwen3", seed=2)  # the tiny qwen3 config is tied
    src = load_file(folder / "model.safetensors")
    assert "lm_head.weight" not in src
    fp32 = load_model(folder, "fp32")
    assert fp32.model.lm_head.weight is fp32.model.embed_tokens.weight
    assert torch.equal(fp32.model.embed_tokens.weight, src["model.embed_tokens.weight"])
    embed_bytes = 1000 * 64 * 4
    assert fp32.weights_bytes < sum(t.numel() * 4 for t in src.values()) + embed_bytes // 2  # counted once

    int8 = load_model(folder, "int8")
    head = int8.model.lm_head
    assert isinstance(head, quant.Int8Linear) and head.weight.dtype == torch.int8
    assert isinstance(int8.model.embed_tokens, quant.Int8Embedding)
    dequant = head.weight.float() * head.scales.float()[:, None]
    embed = src["model.embed_tokens.weight"]
    row_step = embed.abs().amax(dim=1, keepdim=True) / 127
    assert ((dequant - embed).abs() <= row_step).all()  # half a step of rounding + the bf16 scale's error
    assert (forward(int8).argmax(-1) == forward(fp32).argmax(-1)).float().mean() >= 0.8


@pytest.fixture(scope="module", params=ARCHS)
def arch_ckpt(request, tmp_path_factory):
    return request.param, random_checkpoint(tmp_path_factory.mktemp(request.param), request.param, seed=4)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_loads_and_runs(arch_ckpt, precision):
    arch, folder = arch_ckpt
    loaded = load_model(folder, precision)
    assert loaded.precision == precision and loaded.config.architecture == arch
    expected_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}.get(precision,
                                                                                              torch.bfloat16)
    assert loaded.compute_dtype == expected_dtype
    assert not any(t.is_meta for t in [*loaded.model.parameters(), *loaded.model.buffers()])
    logits = forward(loaded)
    assert logits.shape == (1, 24, 1000) and torch.isfinite(logits).all()
    layer = loaded.model.layers[0]
    kernels = kernel_status()
    notes = [] if precision == "fp32" else [kernels.reason]  # which decode kernels run, or why torch's
    if precision == "int8":
        assert isinstance(layer.mlp.down_proj, quant.Int8Linear) and layer.mlp.down_proj.weight.dtype == torch.int8
    if precision == "int4":
        assert isinstance(layer.mlp.gate_up_proj, quant.Int4Linear)
        assert isinstance(layer.mlp.down_proj, quant.Int4Linear) and layer.mlp.down_proj.group == 32  # K = 160
        if kernels.kernels is None:  # torch's packed layout tiles rows by 16: the 1000-row LM head stays int8
            assert isinstance(loaded.model.lm_head, quant.Int8Linear)
            notes.append("lm_head: shape 1000x64 does not suit the int4 kernels, kept at int8")
        else:  # Ponder's layout takes any row count
            assert isinstance(loaded.model.lm_head, quant.Int4Linear)
    elif precision in ("bf16", "fp16") and cpu_gemm.gemm_dtype(expected_dtype) == torch.float32:
        assert type(layer.mlp.down_proj) is quant.CpuLinear and layer.mlp.down_proj.widen  # larger calls in fp32
        assert layer.mlp.down_proj.weight.dtype == expected_dtype
        notes.append(f"{precision} on a CPU without {precision} arithmetic: prefill widens the weights to fp32")
    elif precision == "fp32":  # its products go through oneDNN (``cpu_gemm``)
        assert type(layer.mlp.down_proj) is quant.CpuLinear and not layer.mlp.down_proj.widen
    assert loaded.notes == notes
    if precision in ("int8", "int4"):
        fp32 = load_model(folder, "fp32")
        assert loaded.weights_bytes < fp32.weights_bytes / 2
