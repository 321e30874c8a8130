"""Every command-line tool's ``--help`` lists every option the documentation shows for it.

Documentation read at test time: ``README.md``, ``docs/**/*.md`` (commands in fenced code blocks,
with ``\\`` continuations joined, and inline code spans) and each tool's own module docstring. An
option counts as documented for a tool when it follows ``tools/<tool>.py`` in the same command;
``dist_train.sh`` / ``slurm_train.sh`` pass their options to ``train.py`` and ``dist_test.sh`` to
``test.py``. A doc giving options for a tool script that does not exist fails too (a doc may
name a tool that is not written yet).

The help text comes from the tool's ``parse_args(['--help'])`` (or ``main(['--help'])``) run
in-process (argparse prints it and exits 0), so each tool costs one import, not one interpreter.
"""
import ast
import glob
import importlib.util
import os.path as osp
import re

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = sorted(osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'tools', '**', '*.py'),
                                                       recursive=True))
SHELL_TO_PY = {'tools/dist_train.sh': 'tools/train.py', 'tools/slurm_train.sh': 'tools/train.py',
               'tools/dist_test.sh': 'tools/test.py'}

TOOL_REF = re.compile(r'(?<![\w/.-])(tools/[\w/]+\.(?:py|sh))')
OPTION = re.compile(r'(?<![\w-])(--[A-Za-z][\w-]*)')
FENCE = re.compile(r'^\s*(```|~~~)')
# a command ends at a shell separator or a comment
COMMAND_END = re.compile(r'\s(?:#|&&|\|\||\||;)\s?')


def options_after_tools(text):
    """``{tool: {options}}`` for every ``tools/x.py ... --opt`` in one command line / span."""
    out = {}
    refs = list(TOOL_REF.finditer(text))
    for i, m in enumerate(refs):
        end = refs[i + 1].start() if i + 1 < len(refs) else len(text)
        rest = text[m.end():end]
        stop = COMMAND_END.search(rest)
        if stop:
            rest = rest[:stop.start()]
        out.setdefault(m.group(1), set()).update(OPTION.findall(rest))
    return out


def doc_commands(path):
    """``[(line_no, text)]``: joined command lines of code blocks and inline code spans."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    out, prose, in_block, pending, start = [], [], False, '', 0
    for no, line in enumerate(lines, 1):
        if FENCE.match(line):
            in_block = not in_block
            continue
        if in_block:
            if not pending:
                start = no
            if line.rstrip().endswith('\\'):
                pending += line.rstrip()[:-1] + ' '
                continue
            out.append((start, pending + line))
            pending = ''
        else:
            prose.append((no, line))
    # inline spans may wrap onto the next line of a paragraph (never across a blank line)
    paragraph, first = [], 0
    for no, line in prose + [(len(lines) + 1, '')]:
        if line.strip():
            first = first or no
            paragraph.append(line)
            continue
        text = ' '.join(paragraph)
        out += [(first, span) for span in re.findall(r'`([^`]+)`', text)]
        paragraph, first = [], 0
    return out


def docstring_commands(docstring):
    """The usage block of a tool docstring (a line starting with ``python tools/…``,
    ``bash tools/…`` or ``tools/…`` and the more-indented lines under it, joined) and its
    ````…```` spans."""
    out, block, indent = [], None, 0
    for line in docstring.split('\n') + ['']:
        stripped = line.lstrip()
        depth = len(line) - len(stripped)
        if block is not None and stripped and depth > indent:
            block += ' ' + stripped.rstrip('\\')
            continue
        if block is not None:
            out.append(block)
            block = None
        if re.match(r'(python |bash )?tools/', stripped):
            block, indent = stripped.rstrip('\\'), depth
    return out + re.findall(r'``([^`]+)``', docstring)


def documented_options():
    """``{tool.py: {option: ['README.md:43', ...]}}`` and ``['doc:line: missing tool']``."""
    docs = [osp.join(ROOT, 'README.md')] + sorted(
        glob.glob(osp.join(ROOT, 'docs', '**', '*.md'), recursive=True))
    sources = []
    for doc in docs:
        sources += [(f'{osp.relpath(doc, ROOT)}:{no}', text) for no, text in doc_commands(doc)]
    for tool in TOOLS:
        with open(osp.join(ROOT, tool), encoding='utf-8') as f:
            docstring = ast.get_docstring(ast.parse(f.read())) or ''
        sources += [(f'{tool} (docstring)', text) for text in docstring_commands(docstring)]
    found, missing_tools = {}, []
    for where, text in sources:
        for tool, options in options_after_tools(text).items():
            tool = SHELL_TO_PY.get(tool, tool)
            if not osp.exists(osp.join(ROOT, tool)):
                if options:  # a doc may say a tool is not written yet, but not give its options
                    missing_tools.append(f'{where}: {tool} (with {sorted(options)}) does not exist')
                continue
            for option in options:
                found.setdefault(tool, {}).setdefault(option, []).append(where)
    return found, missing_tools


def tool_help(tool, capsys):
    spec = importlib.util.spec_from_file_location(
        'help_' + tool.replace('/', '_')[:-3], osp.join(ROOT, tool))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # parse_args(argv) where the tool has one, else main(argv): argparse exits at --help
    parse = getattr(module, 'parse_args', None) or module.main

    def help_of(argv):
        with pytest.raises(SystemExit) as exit_info:
            parse(argv + ['--help'])
        assert exit_info.value.code == 0
        return capsys.readouterr().out

    text = help_of([])
    # sub-commands (``analyze_logs.py {plot_curve,cal_train_time}``): their options too
    first = text.split('\n\n')[0]
    commands = re.search(r'\{([\w,-]+)\}', first)
    for command in commands.group(1).split(',') if commands else ():
        text += help_of([command])
    return text


def test_parser_reads_commands_spans_and_continuations(tmp_path):
    doc = tmp_path / 'doc.md'
    doc.write_text('Run `tools/test.py CONFIG CKPT --out\nres.pkl` to save.\n\n'
                   '```shell\n'
                   'python tools/train.py CONFIG \\\n'
                   '    --work-dir w --amp  # then --not-this\n'
                   'bash tools/dist_train.sh CONFIG 2 --resume && tools/test.py C K --tta\n'
                   '```\n', encoding='utf-8')
    got = {}
    for _, text in doc_commands(str(doc)):
        for tool, options in options_after_tools(text).items():
            got.setdefault(SHELL_TO_PY.get(tool, tool), set()).update(options)
    assert got == {'tools/test.py': {'--out', '--tta'},
                   'tools/train.py': {'--work-dir', '--amp', '--resume'}}
    docstring = ('Compare runs.\n\n    python tools/analysis/x.py CFG [--a 1]\n'
                 '        [--b-c 2]\n\n'
                 'Each run is ``tools/train.py CFG --seed S``; see --not-this.')
    assert [options_after_tools(t) for t in docstring_commands(docstring)] == [
        {'tools/analysis/x.py': {'--a', '--b-c'}}, {'tools/train.py': {'--seed'}}]


def test_docs_name_existing_tools():
    found, missing_tools = documented_options()
    assert not missing_tools, '\n'.join(missing_tools)
    # the README's train.py synopsis is read
    assert {'--work-dir', '--resume', '--amp', '--cfg-options'} <= set(found['tools/train.py'])
    assert len(TOOLS) >= 20 and 'tools/analysis/get_flops.py' in TOOLS


@pytest.mark.parametrize('tool', TOOLS)
def test_help(tool, capsys):
    """``--help`` exits 0, prints a usage line and lists every documented option of the tool."""
    text = tool_help(tool, capsys)
    assert text.startswith('usage: ')
    documented = documented_options()[0].get(tool, {})
    listed = set(OPTION.findall(text))
    assert '--help' in listed
    missing = [f'{option} (documented at {", ".join(where)})'
               for option, where in sorted(documented.items()) if option not in listed]
    assert not missing, f'{tool} --help lacks: ' + '; '.join(missing)
