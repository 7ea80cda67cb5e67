# heat_pinn.py — examples/heat_pinn.noe in JAX, for comparing PINN training throughput.
# The same network (one hidden tanh layer, H = 20), the same 576 + 32 + 32 points and loss, in
# float64, trained by Adam (lr 0.01) for N iterations (default 300); prints the compile time
# and the time per iteration. Compare with Noether's Adam on the same model:
#   sed 's/with lbfgs(iters = 1000)/with adam(lr = 0.01, iters = 300)/' examples/heat_pinn.noe > adam.noe
#   noether fit adam.noe --json            # "wall_seconds": the 300 iterations
#   pip install jax && python benches/jax/heat_pinn.py 300
# Not run by CI (it needs JAX); README's status table quotes the figures.
import sys, time
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
H, D = 20, 0.1
key = jax.random.PRNGKey(0)
k1, k2, k3 = jax.random.split(key, 3)
params = {"W1": jax.random.normal(k1, (H, 2)), "b1": jax.random.normal(k3, (H,)),
          "W2": 0.3 * jax.random.normal(k2, (H,)), "b2": jnp.array(0.0)}
def u(p, x, t):
    return p["b2"] + jnp.sum(p["W2"] * jnp.tanh(p["W1"][:, 0] * x + p["W1"][:, 1] * t + p["b1"]))
u_t = jax.grad(u, 2)
u_xx = jax.grad(jax.grad(u, 1), 1)
def residual(p, x, t):
    return u_t(p, x, t) - D * u_xx(p, x, t)
i, j = jnp.meshgrid(jnp.arange(24), jnp.arange(24), indexing="ij")
xr, tr = ((i + 0.5) / 24).ravel(), ((j + 0.5) / 24).ravel()
x0 = jnp.arange(32) / 31
jb, sb = jnp.meshgrid(jnp.arange(16), jnp.arange(2), indexing="ij")
xb, tb = sb.ravel().astype(float), (jb / 15).ravel()
def loss(p):
    r = jax.vmap(residual, (None, 0, 0))(p, xr, tr)
    e0 = jax.vmap(u, (None, 0, None))(p, x0, 0.0) - jnp.sin(jnp.pi * x0)
    eb = jax.vmap(u, (None, 0, 0))(p, xb, tb)
    return jnp.mean(r**2) + jnp.mean(e0**2) + jnp.mean(eb**2)
vg = jax.jit(jax.value_and_grad(loss))
@jax.jit
def adam(p, m, v, g, t, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    m = jax.tree_util.tree_map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
    v = jax.tree_util.tree_map(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
    p = jax.tree_util.tree_map(lambda q, a, b: q - lr * (a / (1 - b1**t)) / (jnp.sqrt(b / (1 - b2**t)) + eps), p, m, v)
    return p, m, v
iters = int(sys.argv[1]) if len(sys.argv) > 1 else 300
start = time.perf_counter()
m = jax.tree_util.tree_map(jnp.zeros_like, params); v = jax.tree_util.tree_map(jnp.zeros_like, params)
l, g = vg(params); p2, _, _ = adam(params, m, v, g, 1.0); jax.block_until_ready(p2)
compile_s = time.perf_counter() - start
start = time.perf_counter()
p = params
for t in range(1, iters + 1):
    l, g = vg(p)
    p, m, v = adam(p, m, v, g, float(t))
jax.block_until_ready(p)
run_s = time.perf_counter() - start
print(f"jax {jax.__version__}: compile+first {compile_s:.3f} s, {iters} iterations {run_s:.3f} s = {1e3*run_s/iters:.3f} ms/iter, final loss {float(l):.4e}")
