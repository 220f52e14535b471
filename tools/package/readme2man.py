#!/usr/bin/env python3
"""Writes lb(1) in roff from README.md's "## Command line" section, so the man
page says what the README says. Usage: readme2man.py README.md VERSION > lb.1"""
import re
import sys


def roff(text):
    text = text.replace("\\", "\\e")
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)  # links: keep the words
    text = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    return "\n".join("\\&" + l if l.startswith((".", "'")) else l for l in text.split("\n"))


def main():
    readme, version = sys.argv[1], sys.argv[2]
    text = open(readme).read()
    m = re.search(r"^## Command line\n(.*?)(?=^## )", text, re.M | re.S)
    if not m:
        sys.exit("readme2man: no '## Command line' section in " + readme)
    out = [f'.TH LB 1 "" "lb {version}" "User Commands"', ".SH NAME", "lb \\- Layer-4/7 load balancer",
           ".SH SYNOPSIS", "\\fBlb\\fR [\\fB--config\\fR \\fIFILE\\fR] [\\fB--check\\fR [\\fB--no-resolve\\fR]] "
           "[\\fB--probe\\fR \\fIURL\\fR] [\\fB--log-level\\fR \\fILEVEL\\fR] [\\fB--version\\fR]",
           ".SH OPTIONS"]
    rest = []
    for line in m.group(1).strip().split("\n"):
        row = re.match(r"^\|\s*(`[^|]*`)\s*\|\s*(.*?)\s*\|$", line)
        if row:
            out += [".TP", roff(row.group(1)), roff(row.group(2))]
        elif not line.startswith("|"):
            rest.append(line)
    out += [".SH SIGNALS AND LOGS"]
    for para in "\n".join(rest).strip().split("\n\n"):
        out += [".PP", roff(" ".join(para.split()))]
    out += [".SH FILES", ".TP", "/etc/lb/lb.yaml", "the configuration (a conffile in the Debian package)",
            ".SH SEE ALSO", "/usr/share/doc/lb/configuration.md.gz, systemctl(1), logrotate(8)"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
