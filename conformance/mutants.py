"""The mutation catalogue: plausible bugs in optimspec.torch (Python and ``kernels.c``) and
optimspec.tf, each one edit away from the real code (:mod:`optimspec.conformance.mutate` runs them).

Each mutant names the adapters whose code path the edit reaches: the fused default path
(``optimspec.torch``: ``kernels.c`` and its Python glue), the ``foreach`` and ``per_tensor`` paths,
and ``optimspec.tf``. Code every path shares lists every path. ``select`` keeps each check to the
algorithm the edit is in.

Behavioural mutants change what is computed; the suite must kill every one. Precision mutants
compute the same formula with other roundings (another order of operations), as peers do; they
may pass, and are reported with the error they show.

Not in the catalogue: the block partitioning of the kernels (it only matters for tensors of more
than 16 384 elements, and golden tensors hold at most 4 096 values; ``tests/torch`` compares the
paths on large tensors), thread counts, and anything only reachable on CUDA.
"""

from __future__ import annotations

from .mutate import Mutant

FUSED, FOREACH, PER_TENSOR, TF = "optimspec.torch", "optimspec.torch-foreach", "optimspec.torch-per_tensor", "optimspec.tf"
ADAMW_PATHS = (FUSED, FOREACH, PER_TENSOR)
ADAFACTOR_PATHS = (FUSED, PER_TENSOR)
ADAMW, ADAFACTOR = ("optim/adamw/",), ("optim/adafactor/",)


def _m(id: str, file: str, old: str, new: str, adapters: tuple[str, ...], select: tuple[str, ...], description: str, kind: str = "behavioural") -> Mutant:
    return Mutant(id, file, ((old, new),), adapters, select, description, kind)


def _adamw(id: str, old: str, new: str, adapters: tuple[str, ...], description: str, kind: str = "behavioural") -> Mutant:
    return _m(f"torch.adamw.{id}", "torch/adamw.py", old, new, adapters, ADAMW, description, kind)


def _adafactor(id: str, old: str, new: str, adapters: tuple[str, ...], description: str, kind: str = "behavioural") -> Mutant:
    return _m(f"torch.adafactor.{id}", "torch/adafactor.py", old, new, adapters, ADAFACTOR, description, kind)


def _kernel(id: str, old: str, new: str, select: tuple[str, ...], description: str) -> Mutant:
    return _m(f"kernels.{id}", "torch/kernels.c", old, new, (FUSED,), select, description)


def _schedule(id: str, old: str, new: str, schedules: tuple[str, ...], description: str) -> Mutant:
    return _m(f"torch.schedules.{id}", "torch/schedules.py", old, new, (FUSED,), tuple(f"sched/{s}/" for s in schedules), description)


def _tf(id: str, file: str, old: str, new: str, select: tuple[str, ...], description: str) -> Mutant:
    return _m(f"tf.{id}", f"tf/{file}", old, new, (TF,), select, description)


AWD, CREATE = ("optim/adam_weight_decay/",), ("optim/create_optimizer/", "sched/create_optimizer/")

MUTANTS: list[Mutant] = [
    # ---------------------------------------------------------------------------------------------
    # AdamW, Python: what every path shares
    # ---------------------------------------------------------------------------------------------
    _adamw("step-size-without-sqrt",
           "return self.lr * math.sqrt(1.0 - self.beta2**step) / (1.0 - self.beta1**step)",
           "return self.lr / (1.0 - self.beta1**step)",
           ADAMW_PATHS, "the step size forgets √(1 − β2ᵗ)"),
    _adamw("step-size-betas-swapped",
           "return self.lr * math.sqrt(1.0 - self.beta2**step) / (1.0 - self.beta1**step)",
           "return self.lr * math.sqrt(1.0 - self.beta1**step) / (1.0 - self.beta2**step)",
           ADAMW_PATHS, "β1 and β2 swapped in the bias corrections"),
    _adamw("bias-correction-one-step-ahead",
           "return self.lr * math.sqrt(1.0 - self.beta2**step) / (1.0 - self.beta1**step)",
           "return self.lr * math.sqrt(1.0 - self.beta2 ** (step + 1)) / (1.0 - self.beta1 ** (step + 1))",
           ADAMW_PATHS, "the bias corrections use t + 1"),
    _adamw("correct-bias-ignored", "if not self.correct_bias:\n            return self.lr", "if False:\n            return self.lr",
           ADAMW_PATHS, "correct_bias=False still corrects"),
    _adamw("decay-not-scaled-by-lr",
           "return -self.lr * self.weight_decay if self.weight_decay > 0.0 else None",
           "return -self.weight_decay if self.weight_decay > 0.0 else None",
           ADAMW_PATHS, "the decoupled decay is not multiplied by lr"),
    Mutant("torch.adamw.step-counted-after-use", "torch/adamw.py", (
        ('            state["step"] += 1\n            batch.params.append(p)', "            batch.params.append(p)"),
        ('            batch.steps.append(state["step"])\n', '            batch.steps.append(state["step"])\n            state["step"] += 1\n'),
    ), ADAMW_PATHS, ADAMW, "the step counter is read before it is incremented (t − 1 in the bias corrections)"),
    _adamw("half-moments", "dtype = compute_dtype(p.dtype)", "dtype = p.dtype",
           ADAMW_PATHS, "half-precision params keep half-precision moments"),
    # per_tensor path
    _adamw("per_tensor.decay-before-update",
           "        work.addcdiv_(m, denom, value=-h.step_size(step))\n        if decay is not None:\n            work.add_(work, alpha=decay)\n",
           "        if decay is not None:\n            work.add_(work, alpha=decay)\n        work.addcdiv_(m, denom, value=-h.step_size(step))\n",
           (PER_TENSOR,), "the decay multiplies the previous param (torch.optim's order)"),
    _adamw("per_tensor.eps-inside-sqrt", "denom = v.sqrt().add_(h.eps)", "denom = v.add(h.eps).sqrt_()",
           (PER_TENSOR,), "ε added under the square root"),
    _adamw("per_tensor.v-with-beta1", "addcmul_(g, g, value=1.0 - h.beta2)", "addcmul_(g, g, value=1.0 - h.beta1)",
           (PER_TENSOR,), "the second moment weighs g² by 1 − β1"),
    _adamw("per_tensor.m-unweighted", "m.mul_(h.beta1).add_(g, alpha=1.0 - h.beta1)", "m.mul_(h.beta1).add_(g)",
           (PER_TENSOR,), "the first moment adds g without (1 − β1)"),
    _adamw("per_tensor.no-write-back", "            work.add_(work, alpha=decay)\n        write_back([p], [work])",
           "            work.add_(work, alpha=decay)",
           (PER_TENSOR,), "half-precision params: the float32 copy is stepped and never written back"),
    # foreach path
    _adamw("foreach.no-eps", "    torch._foreach_add_(denoms, h.eps)\n", "",
           (FOREACH,), "ε is never added to the denominator"),
    _adamw("foreach.decay-sign", "torch._foreach_add_(params, params, alpha=h.decay)", "torch._foreach_add_(params, params, alpha=-h.decay)",
           (FOREACH,), "the decay grows the params"),
    _adamw("foreach.first-tensors-step-size", "[-s for s in step_sizes]", "-step_sizes[0]",
           (FOREACH,), "every tensor steps with the first tensor's step size (their step counters differ)"),
    _adamw("foreach.no-write-back", "    write_back(batch.params, work)\n\n\ndef _foreach_math", "\n\ndef _foreach_math",
           (FOREACH,), "half-precision params: the float32 copies are stepped and never written back"),
    # the fused path's glue
    _adamw("fused.no-decay-flag", "h.beta1, h.beta2, h.eps, decay or 0.0, decay is not None,", "h.beta1, h.beta2, h.eps, decay or 0.0, False,",
           (FUSED,), "the kernel is told there is no decay"),
    _adamw("fused.betas-swapped", "h.beta1, h.beta2, h.eps, decay or 0.0, decay is not None,", "h.beta2, h.beta1, h.eps, decay or 0.0, decay is not None,",
           (FUSED,), "β1 and β2 passed to the kernel in the wrong order"),

    # ---------------------------------------------------------------------------------------------
    # AdamW, kernels.c
    # ---------------------------------------------------------------------------------------------
    _kernel("adamw.a1-from-beta2", "a1 = (real)(1.0 - beta1)", "a1 = (real)(1.0 - beta2)", ADAMW, "the first moment weighs g by 1 − β2"),
    _kernel("adamw.eps-inside-sqrt", "(mi / (sqrt(vi) + e))", "(mi / sqrt(vi + e))", ADAMW, "ε added under the square root"),
    _kernel("adamw.decay-before-update",
            "real pi = p[i] + neg_s * (mi / (sqrt(vi) + e));\n            if (has_decay) pi = pi + dec * pi;",
            "real pi = p[i];\n            if (has_decay) pi = pi + dec * pi;\n            pi = pi + neg_s * (mi / (sqrt(vi) + e));",
            ADAMW, "the decay multiplies the previous param"),
    _kernel("adamw.first-moment-not-stored", "            m[i] = mi;\n", "", ADAMW, "the updated first moment is not written back"),
    _kernel("adamw.step-size-sign", "const real neg_s = (real)(-step_size[t]);", "const real neg_s = (real)(step_size[t]);", ADAMW, "the update is added instead of subtracted"),
    _kernel("adamw.first-tensors-step-size", "const real neg_s = (real)(-step_size[t]);", "const real neg_s = (real)(-step_size[0]);", ADAMW,
            "every tensor steps with the first tensor's step size (their step counters differ)"),
    _kernel("adamw.v-not-squared", "vi = vi + a2 * (g[i] * g[i]);", "vi = vi + a2 * g[i];", ADAMW, "the second moment accumulates g instead of g²"),
    _m("kernels.adamw.moment-lerp", "torch/kernels.c", "            real mi = m[i] * b1;\n            mi = mi + a1 * g[i];",
       "            real mi = m[i] + a1 * (g[i] - m[i]);", (FUSED,), ADAMW,
       "the first moment as a lerp, m + (1 − β1)(g − m) (Keras' form): equal in finite arithmetic, NaN where m and g are both infinite"),
    # ---------------------------------------------------------------------------------------------
    # Adafactor, Python
    # ---------------------------------------------------------------------------------------------
    _adafactor("relative-step-cap", 'min_step = 1e-6 * step if group["warmup_init"] else 1e-2', 'min_step = 1e-6 * step if group["warmup_init"] else 1e-3',
               ADAFACTOR_PATHS, "the relative step is capped at 1e-3 instead of 1e-2"),
    _adafactor("relative-step-without-sqrt", "return min(min_step, 1.0 / math.sqrt(step))", "return min(min_step, 1.0 / step)",
               ADAFACTOR_PATHS, "ρ = min(·, 1/t) instead of 1/√t"),
    _adafactor("warmup-init-ignored", 'min_step = 1e-6 * step if group["warmup_init"] else 1e-2', "min_step = 1e-2",
               ADAFACTOR_PATHS, "warmup_init has no effect"),
    _adafactor("param-scale-without-eps2", 'param_scale = max(param_group["eps"][1], param_state["RMS"])', 'param_scale = param_state["RMS"]',
               (PER_TENSOR,), "the parameter scale is not floored at eps2"),
    _adafactor("rms-over-numel", "return tensor.norm(2) / (tensor.numel() ** 0.5)", "return tensor.norm(2) / tensor.numel()",
               (PER_TENSOR,), "RMS divides the norm by n instead of √n"),
    _adafactor("per_tensor.beta2-without-one-minus", 'beta2t = 1.0 - state["step"] ** group["decay_rate"]', 'beta2t = state["step"] ** group["decay_rate"]',
               (PER_TENSOR,), "β̂2 = t^decay_rate instead of 1 − t^decay_rate"),
    _adafactor("per_tensor.no-eps1", 'update = grad**2 + group["eps"][0]', "update = grad**2",
               (PER_TENSOR,), "eps1 is not added to g²"),
    _adafactor("per_tensor.row-not-normalized",
               "row_factor = (exp_avg_sq_row / exp_avg_sq_row.mean(dim=-1, keepdim=True)).rsqrt_().unsqueeze(-1)",
               "row_factor = exp_avg_sq_row.rsqrt().unsqueeze(-1)",
               (PER_TENSOR,), "the row statistic is not normalized by its mean"),
    _adafactor("per_tensor.clip-inverted", 'update.div_((_rms(update) / group["clip_threshold"]).clamp_(min=1.0))',
               'update.div_((group["clip_threshold"] / _rms(update)).clamp_(min=1.0))',
               (PER_TENSOR,), "the clipping divisor is inverted (d / RMS(u))"),
    _adafactor("per_tensor.clip-not-floored", 'update.div_((_rms(update) / group["clip_threshold"]).clamp_(min=1.0))',
               'update.div_(_rms(update) / group["clip_threshold"])',
               (PER_TENSOR,), "the update is always rescaled to RMS d, never left alone below it"),
    _adafactor("per_tensor.decay-after-update",
               '    if group["weight_decay"] != 0:\n        work.add_(work, alpha=-group["weight_decay"] * lr)\n    work.sub_(update)',
               '    work.sub_(update)\n    if group["weight_decay"] != 0:\n        work.add_(work, alpha=-group["weight_decay"] * lr)',
               (PER_TENSOR,), "the decay multiplies the updated param"),
    _adafactor("per_tensor.decay-not-scaled", 'work.add_(work, alpha=-group["weight_decay"] * lr)', 'work.add_(work, alpha=-group["weight_decay"])',
               (PER_TENSOR,), "the decay is not multiplied by α"),
    _adafactor("per_tensor.momentum-of-unscaled-update",
               '    update.mul_(lr)\n    if group["beta1"] is not None:\n        exp_avg = state["exp_avg"]\n        exp_avg.mul_(group["beta1"]).add_(update, alpha=1 - group["beta1"])\n        update = exp_avg\n',
               '    if group["beta1"] is not None:\n        exp_avg = state["exp_avg"]\n        exp_avg.mul_(group["beta1"]).add_(update, alpha=1 - group["beta1"])\n        update = exp_avg * lr\n    else:\n        update.mul_(lr)\n',
               (PER_TENSOR,), "the first moment averages the update before the lr scaling (the paper's order)"),
    Mutant("torch.adafactor.per_tensor.matrices-not-factored", "torch/adafactor.py",
       ((
           '    state["step"] = 0\n    if beta1 is not None:\n        state["exp_avg"] = torch.zeros_like(grad)\n    if grad.dim() >= 2:',
           '    state["step"] = 0\n    if beta1 is not None:\n        state["exp_avg"] = torch.zeros_like(grad)\n    if grad.dim() > 2:',
       ), (
           '    update = grad**2 + group["eps"][0]\n    if grad.dim() >= 2:',
           '    update = grad**2 + group["eps"][0]\n    if grad.dim() > 2:',
       )),
       (PER_TENSOR,), ADAFACTOR, "only tensors of 3 or more dims are factored (2-D ones keep a full second moment)"),
    _adafactor("no-float32-copy", "work = p.float() if p.dtype in HALF_DTYPES else p", "work = p",
               ADAFACTOR_PATHS, "half-precision params are updated in place in half precision (no float32 working copy)"),
    _adafactor("fused.no-write-back", "            states[i][\"RMS\"] = x.rms\n    write_back(params, works)", "            states[i][\"RMS\"] = x.rms",
               (FUSED,), "half-precision params: the float32 copy is stepped and never written back"),
    _adafactor("fused.rms-not-kept", '            states[i]["RMS"] = x.rms\n', "            pass\n",
               (FUSED,), "the RMS the kernel computed is not stored in the state"),
    _adafactor("fused.clip-threshold-ignored", 'clip_threshold=group["clip_threshold"]', "clip_threshold=1.0",
               (FUSED,), "the kernel always clips at 1"),
    _adafactor("fused.scale-parameter-ignored", 'scale_parameter=group["scale_parameter"]', "scale_parameter=True",
               (FUSED,), "the kernel always scales by the parameter RMS"),
    _adafactor("fused.beta2-one-step-ahead", 'scalars[step] = (_relative_step_size(group, step), 1.0 - step ** group["decay_rate"])',
               'scalars[step] = (_relative_step_size(group, step), 1.0 - (step + 1) ** group["decay_rate"])',
               (FUSED,), "β̂2 computed at t + 1"),
    _adafactor("fused.scalars-of-the-first-tensor", "            x.rho, x.beta2t = scalars[step]", "            x.rho, x.beta2t = next(iter(scalars.values()))",
               (FUSED,), "ρ and β̂2 computed once per group, at the first tensor's step (tensors' step counters differ)"),
    _m("torch.adafactor.schedule-reports-initial-lr", "torch/adafactor.py", "lrs.append(float(optimizer._get_lr(group, state)) if has_stepped else base_lr)", "lrs.append(base_lr)",
       (FUSED,), ("sched/adafactor_schedule/",), "AdafactorSchedule never reads the lr back"),
    # ---------------------------------------------------------------------------------------------
    # Adafactor, kernels.c
    # ---------------------------------------------------------------------------------------------
    _kernel("adafactor.factored-no-eps1", "                real u = g[j] * g[j];\n                u = u + e1;\n", "                real u = g[j] * g[j];\n", ADAFACTOR,
            "factored tensors: eps1 is not added to g²"),
    _kernel("adafactor.vector-no-eps1", "            real u = g[i] * g[i];\n            u = u + e1;\n", "            real u = g[i] * g[i];\n", ADAFACTOR,
            "vectors: eps1 is not added to g²"),
    _kernel("adafactor.row-not-normalized", "row_factor[b * R + i] = (real)1 / sqrt(row[i] / row_mean);", "row_factor[b * R + i] = (real)1 / sqrt(row[i]);", ADAFACTOR,
            "the row statistic is not normalized by its mean"),
    _kernel("adafactor.column-mean-over-columns", "c = c + a2 * (real)(col_sum[j] / (double)R);", "c = c + a2 * (real)(col_sum[j] / (double)C);", ADAFACTOR,
            "the column means divide by the number of columns"),
    _kernel("adafactor.clip-not-floored", "const double divisor = isnan(ratio) ? ratio : (ratio > 1.0 ? ratio : 1.0);", "const double divisor = ratio;", ADAFACTOR,
            "the update is always rescaled to RMS d"),
    _kernel("adafactor.alpha-without-eps2", "alpha = (x->rms > h->eps2 ? x->rms : h->eps2) * x->rho;", "alpha = x->rms * x->rho;", ADAFACTOR,
            "the parameter scale is not floored at eps2"),
    _kernel("adafactor.rms-over-numel", "const double root_n = sqrt((double)numel);", "const double root_n = (double)numel;", ADAFACTOR,
            "RMS divides by n instead of √n"),
    _kernel("adafactor.decay-after-update", "    if (has_decay) pj = pj + decay * pj;\n    return pj - u;", "    pj = pj - u;\n    if (has_decay) pj = pj + decay * pj;\n    return pj;", ADAFACTOR,
            "the decay multiplies the updated param"),
    _kernel("adafactor.momentum-unweighted", "mj = mj + one_minus_beta1 * u;", "mj = mj + u;", ADAFACTOR, "the first moment adds u without (1 − β1)"),
    _kernel("adafactor.fast-path-skips-clipping", "                    u = u * g[j];\n                    u = u / divisor;\n                    u = u * a;\n",
            "                    u = u * g[j];\n                    u = u * a;\n", ADAFACTOR,
            "the branch-free loop (no β1, no decay) forgets the clipping divisor"),
    _kernel("adafactor.vector-state-not-stored", "vi = vi + a2 * u;\n            v[i] = vi;\n", "vi = vi + a2 * u;\n", ADAFACTOR, "a vector's second moment is not written back"),
    _kernel("adafactor.rms-after-update", "                    pa += (double)p[j] * (double)p[j];\n                    p[j] = p[j] - u;",
            "                    p[j] = p[j] - u;\n                    pa += (double)p[j] * (double)p[j];", ADAFACTOR,
            "without scale_parameter, the RMS kept in the state is taken after the update"),
    # ---------------------------------------------------------------------------------------------
    # shared torch plumbing
    # ---------------------------------------------------------------------------------------------
    _m("torch.base.write-back-inverted", "torch/_base.py", "        if w is not p:\n            p.copy_(w)", "        if w is p:\n            p.copy_(w)",
       ADAMW_PATHS, ADAMW + ADAFACTOR, "half-precision params never receive their float32 step"),
    _m("torch.base.resume-rounds-half-state", "torch/_base.py", "                    self.state[p][key] = value.to(device=p.device)", "                    pass",
       ADAMW_PATHS, ADAMW + ADAFACTOR, "load_state_dict lets torch cast the float32 state of half params to half"),
    _m("torch.checks.negative-lr-accepted", "torch/adamw.py", '        _checks.real(owner, "lr", group["lr"], low=0.0)\n', "",
       ADAMW_PATHS, ("optim/adamw/invalid/",), "AdamW accepts a negative or NaN lr"),
    _m("torch.checks.zero-clip-threshold-accepted", "torch/adafactor.py",
       '_checks.real(owner, "clip_threshold", group["clip_threshold"], low=0.0, low_open=True, high_open=False)',
       '_checks.real(owner, "clip_threshold", group["clip_threshold"], low=0.0, high_open=False)',
       ADAFACTOR_PATHS, ("optim/adafactor/invalid/",), "Adafactor accepts clip_threshold = 0"),
    # ---------------------------------------------------------------------------------------------
    # schedules
    # ---------------------------------------------------------------------------------------------
    _schedule("ramp-one-step-ahead", "return float(step) / float(max(1, num_warmup_steps))", "return float(step + 1) / float(max(1, num_warmup_steps))",
              ("constant_with_warmup", "cosine_with_restarts", "polynomial"), "the warmup reaches the peak one step early"),
    _schedule("linear-off-by-one", "factor = float(num_training_steps - step) / decay_div",
              "factor = float(num_training_steps - step - 1) / decay_div",
              ("linear",), "the linear decay reaches 0 one step early"),
    _schedule("linear-ramp-one-step-ahead", "        return float(step) / warmup_div\n    factor = float(num_training_steps - step)",
              "        return float(step + 1) / warmup_div\n    factor = float(num_training_steps - step)",
              ("linear",), "the linear schedule's warmup reaches the peak one step early"),
    _schedule("cosine-half-cycles", "omega=math.pi * float(num_cycles) * 2.0,", "omega=math.pi * float(num_cycles),",
              ("cosine", "cosine_with_min_lr"), "the cosine runs half the cycles"),
    _schedule("wsd-cosine-half-cycles", "math.cos(math.pi * float(num_cycles) * 2.0 * progress)", "math.cos(math.pi * float(num_cycles) * progress)",
              ("warmup_stable_decay",), "the WSD cosine decay runs half the cycles"),
    _schedule("min-lr-floor-ignored", "keep=1 - min_lr_rate,", "keep=1.0,",
              ("cosine_with_min_lr",), "the cosine is not rescaled to end at the floor"),
    _schedule("polynomial-power-ignored", "pct_remaining**power", "pct_remaining", ("polynomial",), "the polynomial decay is always linear"),
    _schedule("inverse-sqrt-no-shift", "return 1.0 / math.sqrt((step + shift) / timescale)", "return 1.0 / math.sqrt(step / timescale)",
              ("inverse_sqrt",), "the decay is not shifted to start at 1 after the warmup"),
    _schedule("min-lr-floor-as-max", "return factor * (1 - min_lr_rate) + min_lr_rate", "return max(factor, min_lr_rate)",
              ("cosine_warmup_with_min_lr", "warmup_stable_decay"), "the floor clips the cosine instead of rescaling it"),
    _schedule("hard-restarts-no-modulo", "math.cos(math.pi * ((float(num_cycles) * progress) % 1.0))", "math.cos(math.pi * (float(num_cycles) * progress))",
              ("cosine_with_restarts",), "the cycles do not restart"),
    _schedule("wsd-sqrt-decay-shape", 'return 1.0 - math.sqrt(progress)  # "1-sqrt"', 'return math.sqrt(1.0 - progress)  # "1-sqrt"',
              ("warmup_stable_decay",), "the 1-sqrt decay is √(1 − p)"),
    _m("torch.greedy.increase-multiplies", "torch/greedy.py", "new_lr = min(old_lr / self.factor, self.max_lrs[i])", "new_lr = min(old_lr * self.factor, self.max_lrs[i])",
       (FUSED,), ("sched/greedy/",), "GreedyLR lowers the lr where it should raise it"),
    # ---------------------------------------------------------------------------------------------
    # optimspec.tf
    # ---------------------------------------------------------------------------------------------
    _m("tf.awd.decay-after-update", "tf/adam_weight_decay.py",
       "        if self._decays[index]:\n            self.assign_sub(variable, lr * variable * tf.constant(self.weight_decay_rate, dtype))\n",
       "", (TF,), AWD, "no decay at all (the decay line deleted)"),
    _tf("awd.alpha-without-sqrt", "adam_weight_decay.py", "alpha = lr * tf.sqrt(1 - tf.pow(beta_2, t)) / (1 - tf.pow(beta_1, t))", "alpha = lr / (1 - tf.pow(beta_1, t))",
        AWD, "α forgets √(1 − β2ᵗ)"),
    _tf("awd.t-one-step-ahead", "adam_weight_decay.py", "t = tf.cast(self.iterations + 1, dtype)", "t = tf.cast(self.iterations + 2, dtype)", AWD,
        "the bias corrections use t + 1"),
    _tf("awd.include-does-not-win", "adam_weight_decay.py", "        if any(re.search(p, param_name) for p in self._include_in_weight_decay):\n            return True\n", "", AWD,
        "include_in_weight_decay is ignored"),
    _tf("awd.exclude-matches-start-only", "adam_weight_decay.py", "return not any(re.search(p, param_name) for p in self._exclude_names)",
        "return not any(re.match(p, param_name) for p in self._exclude_names)", AWD, "exclusion patterns anchored at the start of the name"),
    _tf("awd.amsgrad-ignored", "adam_weight_decay.py", "        if self.amsgrad:\n            v_hat", "        if False:\n            v_hat", AWD, "amsgrad has no effect"),
    _tf("awd.config-loses-decay-rate", "adam_weight_decay.py", "            weight_decay_rate=self.weight_decay_rate,\n", "", AWD,
        "get_config drops weight_decay_rate (a restored optimizer does not decay)"),
    _tf("awd.config-loses-excludes", "adam_weight_decay.py", "            exclude_from_weight_decay=list(self._exclude_names) or None,\n", "", AWD,
        "get_config drops the exclusion list"),
    _tf("awd.float64-uses-float32-lr", "adam_weight_decay.py", "        if exact is None or not held_in_variable or tf.as_dtype(dtype).size <= lr.dtype.size:",
        "        if True:", AWD, "float64 variables step with the float32-rounded lr"),
    _tf("awd.lerp-moment-sign", "adam_weight_decay.py", "self.assign_add(m, (g - m) * (1 - beta_1))", "self.assign_add(m, (m - g) * (1 - beta_1))", AWD,
        "the first moment moves away from g"),
    _tf("create_optimizer.exclusions", "factory.py", '_EXCLUDE_FROM_WEIGHT_DECAY = ["LayerNorm", "layer_norm", "bias"]', '_EXCLUDE_FROM_WEIGHT_DECAY = ["LayerNorm", "bias"]',
        CREATE, "layer_norm variables decay"),
    _tf("create_optimizer.beta1-ignored", "factory.py", '_checks.real(_OWNER, "adam_beta1", adam_beta1, low=0.0, high=1.0, high_open=True)',
        '_checks.real(_OWNER, "adam_beta1", 0.9, low=0.0, high=1.0, high_open=True)', CREATE, "adam_beta1 is not passed on"),
    _tf("create_optimizer.epsilon-ignored", "factory.py", '"epsilon": _checks.real(_OWNER, "adam_epsilon", adam_epsilon, low=0.0),',
        '"epsilon": _checks.real(_OWNER, "adam_epsilon", 1e-7, low=0.0),', CREATE, "adam_epsilon is not passed on (Keras' 1e-7 is used)"),
    _tf("create_optimizer.clipnorm-ignored", "factory.py", "        **clipping,\n    }", "    }", CREATE, "neither clipnorm reaches the optimizer"),
    _tf("create_optimizer.global-clipnorm-per-tensor", "factory.py", '("global_clipnorm", "adam_global_clipnorm", adam_global_clipnorm)',
        '("clipnorm", "adam_global_clipnorm", adam_global_clipnorm)', CREATE, "adam_global_clipnorm clips each gradient on its own"),
    _tf("create_optimizer.include-ignored", "factory.py", "            include_in_weight_decay=include_in_weight_decay,\n", "", CREATE,
        "include_in_weight_decay is not passed on"),
    _tf("create_optimizer.warmup-takes-power", "factory.py",
        "schedule = WarmUp(initial_learning_rate=init_lr, decay_schedule_fn=schedule, warmup_steps=num_warmup_steps)",
        "schedule = WarmUp(initial_learning_rate=init_lr, decay_schedule_fn=schedule, warmup_steps=num_warmup_steps, power=power)",
        CREATE, "power shapes the warmup too"),
    _tf("create_optimizer.end-lr-is-ratio", "factory.py", "end_learning_rate=init_lr * min_lr_ratio,", "end_learning_rate=min_lr_ratio,", CREATE,
        "the end lr is min_lr_ratio itself"),
    _tf("create_optimizer.decay-steps-include-warmup", "factory.py", "decay_steps=num_train_steps - num_warmup_steps,", "decay_steps=num_train_steps,", CREATE,
        "the decay lasts T steps after the warmup"),
    _tf("create_optimizer.ratio-above-one-accepted", "factory.py", '_checks.real(_OWNER, "min_lr_ratio", min_lr_ratio, low=0.0, high=1.0)',
        '_checks.real(_OWNER, "min_lr_ratio", min_lr_ratio, low=0.0)', ("sched/create_optimizer/invalid/",), "min_lr_ratio above 1 is accepted (an lr that rises to the end)"),
    _tf("warmup.power-ignored", "schedules.py", "warm = self.initial_learning_rate * tf.pow(step_f / warmup_f, self.power)",
        "warm = self.initial_learning_rate * (step_f / warmup_f)", ("sched/warmup/",), "the warmup is always linear"),
    _tf("warmup.decay-not-shifted", "schedules.py", "lambda: self.decay_schedule_fn(step - self.warmup_steps),", "lambda: self.decay_schedule_fn(step),",
        ("sched/warmup/", "sched/create_optimizer/"), "the decay starts from step W instead of its own step 0"),
    _tf("warmup.config-loses-power", "schedules.py", '            "power": self.power,\n', "", ("sched/warmup/",),
        "WarmUp.get_config drops power (a restored schedule warms up linearly)"),
    _tf("accumulator.reset-keeps-step", "accumulator.py", "        self._step_variable().assign(0)\n", "", ("optim/gradient_accumulator/",),
        "reset() zeroes the sums but not the step"),
    _tf("accumulator.step-counts-gradients", "accumulator.py", "        step.assign_add(1)", "        step.assign_add(len(gradients))", ("optim/gradient_accumulator/",),
        "each call counts one step per gradient"),
    # ---------------------------------------------------------------------------------------------
    # precision only: the same math, rounded differently
    # ---------------------------------------------------------------------------------------------
    _adamw("step-size-reordered",
           "return self.lr * math.sqrt(1.0 - self.beta2**step) / (1.0 - self.beta1**step)",
           "return self.lr / (1.0 - self.beta1**step) * math.sqrt(1.0 - self.beta2**step)",
           ADAMW_PATHS, "lr/(1 − β1ᵗ)·√(1 − β2ᵗ): the same step size, another rounding", kind="precision"),
    _adafactor("rms-as-mean-square", "return tensor.norm(2) / (tensor.numel() ** 0.5)", "return tensor.pow(2).mean().sqrt()",
               (PER_TENSOR,), "RMS as √mean(x²) instead of ‖x‖/√n", kind="precision"),
    _adamw("fused.half-without-float32-copy", "        if p.dtype in HALF_DTYPES:\n            (work,), (g32,)", "        if False:\n            (work,), (g32,)",
           (FUSED,), "half-precision params stepped in place by torch's foreach ops with float32 moments: torch computes each op in "
           "float32 and rounds it to the half dtype, so the update and the decay are rounded separately (twice instead of once; "
           "torch.optim's own half-precision steps round per op)", kind="precision"),
    Mutant("kernels.adafactor.divide-instead-of-rsqrt", "torch/kernels.c", (
        ("real w = ((real)1 / sqrt(vi)) * g[i];", "real w = g[i] / sqrt(vi);"),
        ("const real u = ((real)1 / sqrt(x->sq[i])) * x->grad[i];", "const real u = x->grad[i] / sqrt(x->sq[i]);"),
    ), (FUSED,), ADAFACTOR, "vectors: u = g/√V instead of (1/√V)·g (transformers' rsqrt, then a product): one rounding fewer", kind="precision"),
]
