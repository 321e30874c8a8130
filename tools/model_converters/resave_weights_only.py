"""Re-save a trusted checkpoint that mmfer's weights-only reader refuses as tensors and plain data.

    python tools/model_converters/resave_weights_only.py IN.pth OUT.pth [--key state_dict ...]

mmfer refuses a file that needs a Python global outside its allow-list (e.g. a checkpoint whose
``meta`` holds an ``argparse.Namespace``, or ``torch.save(model)`` of a whole ``nn.Module``).
This tool reads such a file *without running its code*: mmfer's restricted unpickler
(:class:`mmfer.utils.checkpoint.RestrictedUnpickler` with ``stub_all=True``) reconstructs
tensors, numpy arrays and plain containers, and turns every other class into an inert stand-in
that only records its pickled state. The output keeps tensors, arrays, numbers, strings and
containers of them; a pickled whole ``nn.Module`` becomes its state dict (its ``_parameters``
and persistent ``_buffers``, recursively); every other object is dropped and listed. The output
is written atomically and loads with mmfer's weights-only reader.

Only weights and plain values are carried over — no code, no optimizer-class objects. Check
the listed drops: anything the model needs must be a tensor entry.
"""
import argparse
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint refused by mmfer (only a file you trust)')
    parser.add_argument('dst', help='output checkpoint (tensors and plain data only)')
    parser.add_argument('--key', nargs='+', default=None,
                        help='keep only these top-level entries (default: all)')
    return parser.parse_args(argv)


def resave(src: str, dst: str, keys=None) -> dict:
    """Convert ``src`` to ``dst``; returns ``dict(kept=[top-level keys], dropped=[places])``."""
    from mmfer.utils.checkpoint import (CheckpointError, atomic_torch_save,
                                        restricted_torch_load, safe_torch_load, tensors_only)
    obj = restricted_torch_load(src, stub_all=True)
    if keys is not None:
        if not isinstance(obj, dict):
            raise CheckpointError(f'{src}: --key needs a dict at the top level, got '
                                  f'{type(obj).__name__}', path=src)
        missing = [k for k in keys if k not in obj]
        if missing:
            raise CheckpointError(f'{src}: no top-level entries {missing}; it has '
                                  f'{sorted(map(str, obj))}', path=src)
        obj = {k: obj[k] for k in keys}
    dropped = []
    out = tensors_only(obj, dropped=dropped)
    if out is None or (isinstance(out, dict) and not out):
        raise CheckpointError(f'{src}: nothing but objects of unknown classes ({dropped}); '
                              'there are no tensors to re-save', path=src)
    atomic_torch_save(out, dst)
    safe_torch_load(dst)  # the result must pass mmfer's weights-only reader
    return dict(kept=sorted(map(str, out)) if isinstance(out, dict) else [type(out).__name__],
                dropped=dropped)


def main(argv=None):
    args = parse_args(argv)
    info = resave(args.src, args.dst, args.key)
    print(f'{args.src} -> {args.dst}: kept top-level entries {info["kept"]}; dropped '
          f'{len(info["dropped"])} objects of classes outside the allow-list'
          + (': ' + ', '.join(info['dropped']) if info['dropped'] else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
