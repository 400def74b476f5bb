# One Kandinsky 2.1 UNet step at 512x512, batch 2 (classifier-free guidance), in diffusers on torch, random weights.
# The baseline of the int8 figures in the README (int8 section): torch's own best CPU path.
#   pip install torch   (2.13 here; nothing else: stubs.py stands in for the packages diffusers imports but a
#                        bare UNet forward never uses)
#   PYTHONPATH=<diffusers checkout>/src python bench/torch/unet_step.py ../shared/fixtures/kandinsky21/full-configs/decoder/unet/config.json [runs]
import json, sys, time
import stubs  # noqa: F401
import torch
import diffusers
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
cfg = json.load(open(sys.argv[1]))
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
torch.manual_seed(0)
t = time.perf_counter()
unet = UNet2DConditionModel.from_config(cfg).eval()
print(f"torch {torch.__version__}, diffusers {diffusers.__version__} (source), threads {torch.get_num_threads()}, build {time.perf_counter() - t:.1f} s", flush=True)
lat = 512 // 8
def feeds(dtype):
    return dict(sample=torch.randn(2, cfg["in_channels"], lat, lat, dtype=dtype).to(memory_format=torch.channels_last),
                timestep=torch.tensor(500), encoder_hidden_states=torch.randn(2, 77, cfg["encoder_hid_dim"], dtype=dtype),
                added_cond_kwargs=dict(text_embeds=torch.randn(2, cfg["cross_attention_dim"], dtype=dtype),
                                       image_embeds=torch.randn(2, cfg["cross_attention_dim"], dtype=dtype)))
for name, dtype in [("bf16 channels_last", torch.bfloat16), ("fp32 channels_last", torch.float32)]:
    m = unet.to(dtype).to(memory_format=torch.channels_last)
    f = feeds(dtype)
    times = []
    with torch.no_grad():
        for i in range(runs + 1):
            t = time.perf_counter(); m(**f); times.append(time.perf_counter() - t)
    print(f"unet512 {name}: first {times[0] * 1000:.0f} ms, best of {runs} {min(times[1:]) * 1000:.0f} ms", flush=True)
