#!/usr/bin/env bash
# README.md's and harness/README.md's synopses match the options (issue 13): for every command,
# the options of its `--help` usage lines, the options its help describes, and the options of
# its synopsis in each README are the same set.
# A synopsis is a line of an indented block starting `build/waterfall <command>` that holds
# "[--" (examples hold no brackets), with its continuation lines (more indented, starting "[");
# the usage lines of --help are the "usage:" line and those after it starting with spaces and
# "[" or "waterfall".
. tests/harness/lib.sh
cat >"$TMP/check.py" <<'PY'
import re, subprocess, sys
wf, readmes = sys.argv[1], sys.argv[2:]
OPT = re.compile(r"--[a-z][a-z-]*")

def readme_opts(path, cmd):
    lines = open(path).read().split("\n")
    found, opts = 0, set()
    for i, line in enumerate(lines):
        m = re.match(r"^( +)build/waterfall " + cmd + r"\b", line)
        if not m or "[--" not in line:
            continue
        found += 1
        opts |= set(OPT.findall(line))
        for nxt in lines[i + 1:]:
            if len(nxt) - len(nxt.lstrip()) > len(m.group(1)) and nxt.lstrip().startswith("["):
                opts |= set(OPT.findall(nxt))
            else:
                break
    return found, opts

def help_opts(cmd):
    out = subprocess.run([wf, cmd, "--help"], capture_output=True, text=True).stdout.split("\n")
    usage, described, in_usage = set(), set(), False
    for line in out:
        if line.startswith("usage:"):
            in_usage = True
        elif in_usage and not re.match(r"^\s+(\[|waterfall )", line):
            in_usage = False
        if in_usage:
            usage |= set(OPT.findall(line))
        # An option the help describes: a line that starts with it.
        m = re.match(r"^\s*(--[a-z][a-z-]*)", line)
        if m:
            described.add(m.group(1))
    return usage, described

ok = True
def check(what, good, why=""):
    global ok
    print(("PASS " if good else "FAIL ") + what + ("" if good else ": " + why))
    ok &= good

main = subprocess.run([wf, "--help"], capture_output=True, text=True).stdout
commands = re.findall(r"^  ([a-z]+) ", main, re.M)
check("waterfall --help lists the eight commands", commands == ["run", "list", "show", "compare", "plot", "export", "import", "agree"],
      " ".join(commands))
for cmd in commands:
    usage, described = help_opts(cmd)
    usage.discard("--help")
    check(f"{cmd}: every option its help describes is in its usage lines", described <= usage,
          "described, not in usage: " + " ".join(sorted(described - usage)))
    for path in readmes:
        n, syn = readme_opts(path, cmd)
        check(f"{cmd}: {path}'s synopsis has the options of --help ({len(usage)})", n > 0 and syn == usage,
              f"{n} synopsis lines; only in --help: {' '.join(sorted(usage - syn)) or '-'}; "
              f"only in {path}: {' '.join(sorted(syn - usage)) or '-'}")
sys.exit(0 if ok else 1)
PY
python3 "$TMP/check.py" "$WF" harness/README.md README.md
# The check catches a synopsis that falls behind: README.md without --target-noise, and with
# an option run does not have.
sed -e 's/ \[--target-noise X\]//' -e 's/build\/waterfall list \[--db FILE\] \[--all\]/& [--verbose]/' README.md >"$TMP/README.md"
python3 "$TMP/check.py" "$WF" "$TMP/README.md" >"$TMP/tampered" 2>&1
expect "a README synopsis missing an option or naming one the command lacks is caught" eq \
    "$(grep -c '^FAIL run: .*only in --help: --target-noise;' "$TMP/tampered") $(grep -c '^FAIL list: .*only in .*README.md: --verbose' "$TMP/tampered")" "1 1"
