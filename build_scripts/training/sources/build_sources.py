"""Rebuild the open-vocabulary text sources of the synthetic training-data generator.

Run once by hand (it is not part of training or of the app build); the outputs are committed:

    python3 -m build_scripts.training.sources.build_sources            # download, extract, rebuild
    python3 -m build_scripts.training.sources.build_sources --work /tmp/ponder-sources   # reuse downloads

It fetches the pinned packages below with the ordinary clients (``apt-get download`` for Debian 12
"bookworm" packages, ``pip download --no-deps`` for PyPI), unpacks them under the work directory
(``dpkg-deb -x`` / ``tarfile`` / ``zipfile``; nothing is installed), and writes next to this file:

    prose.txt.gz          English prose sentences, one per line, sorted
    prose_sources.txt.gz  the source key of each line of prose.txt.gz (same order), see SOURCES below
    words.txt.gz          common lowercase nouns and adjectives, sorted
    given_names.txt.gz    given names, sorted
    surnames.txt.gz       surnames, sorted
    manifest.json         package versions, licences and counts per source (README.md quotes it)

Everything is deterministic: pinned versions, sorted output, a fixed sampling seed, gzip mtime 0.
Only the Python standard library is used (plus the apt-get, dpkg-deb and pip commands for fetching).
"""

from __future__ import annotations

import argparse
import ast
import bz2
import collections
import gzip
import hashlib
import html
import io
import json
import lzma
import random
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import unicodedata
import zipfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240607

# --------------------------------------------------------------------------------------------------
# Pinned inputs (Debian 12 "bookworm" main, and PyPI).

DEBS = {
    "r-cran-janeaustenr": "1.0.0-1",          # Jane Austen's six novels (R data), MIT package, PD texts
    "r-cran-tokenizers": "0.3.0-1",           # ships Moby Dick (R data `mobydick`), MIT package, PD text
    "dict-devil": "1.0-13.1",                 # The Devil's Dictionary (Bierce), public domain
    "debian-reference-en": "2.100",           # Debian Reference (Osamu Aoki), GPL-2+
    "debian-handbook": "11.20220922",         # The Debian Administrator's Handbook, GPL-2+ or CC-BY-SA-3.0
    "python3.11-doc": "3.11.2-6+deb12u9",     # Python 3.11 documentation (HTML), PSF License Agreement
    "scowl": "2020.12.07-2",                  # SCOWL word lists by frequency level (source of wamerican)
    "wordnet-base": "1:3.0-37",               # WordNet 3.0 index files: part-of-speech filter for words
}
PYPI = {
    "names": "0.3.0",     # 1990 US Census name frequency lists, MIT package (sdist)
    "faker": "40.63.0",   # per-locale name lists, MIT (wheel)
}

# Each prose source: (key, package, register, licence, cap on sentences kept after filtering).
# Caps balance the registers (roughly half narrative/literary, half expository documentation).
SOURCES = {
    "austen": ("r-cran-janeaustenr", "literary", "public domain text (Jane Austen, 1811-1817); package MIT", 22000),
    "melville": ("r-cran-tokenizers", "literary",
                 "public domain text (Herman Melville, Moby-Dick, 1851); package MIT", 7000),
    "bierce": ("dict-devil", "literary", "public domain text (Ambrose Bierce, The Devil's Dictionary, 1911)", 1000),
    "debian-reference": ("debian-reference-en", "expository", "GPL-2+", 5000),
    "debian-handbook": ("debian-handbook", "expository", "GPL-2+ or CC-BY-SA-3.0 (either, at the user's choice)", 9000),
    "python-docs": ("python3.11-doc", "expository", "PSF License Agreement (Python 3.11.2 documentation)", 11000),
}

# --------------------------------------------------------------------------------------------------
# Fetching and unpacking.


def run(cmd: list[str], cwd: Path) -> None:
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, cwd=cwd, check=True)


def fetch(work: Path, any_version: bool) -> dict[str, Path]:
    """Download (if not already there) and unpack every pinned package; returns package -> root dir."""
    debs, pypi, x = work / "debs", work / "pypi", work / "x"
    for d in (debs, pypi, x):
        d.mkdir(parents=True, exist_ok=True)
    roots: dict[str, Path] = {}
    for pkg, ver in DEBS.items():
        have = sorted(debs.glob(f"{pkg}_*.deb"))
        if not have:
            try:
                run(["apt-get", "download", f"{pkg}={ver}"], debs)
            except subprocess.CalledProcessError:
                if not any_version:
                    raise SystemExit(f"{pkg}={ver} is not downloadable; rerun with --any-version to take "
                                     "the current one (and update DEBS and README.md)")
                run(["apt-get", "download", pkg], debs)
            have = sorted(debs.glob(f"{pkg}_*.deb"))
        root = x / pkg
        if not root.exists():
            run(["dpkg-deb", "-x", str(have[-1]), str(root)], work)
        roots[pkg] = root
    for pkg, ver in PYPI.items():
        have = _pypi_files(pypi, pkg, ver)
        if not have:
            kind = ["--no-binary", ":all:"] if pkg == "names" else ["--only-binary", ":all:"]
            run([sys.executable, "-m", "pip", "download", "--no-deps", *kind, "-d", str(pypi), f"{pkg}=={ver}"], work)
            have = _pypi_files(pypi, pkg, ver)
        root = x / f"pypi-{pkg}"
        if not root.exists():
            root.mkdir()
            if have[0].name.endswith(".whl"):
                with zipfile.ZipFile(have[0]) as z:
                    z.extractall(root)
            else:
                with tarfile.open(have[0]) as t:
                    t.extractall(root, filter="data")
        roots[pkg] = root
    return roots


def _pypi_files(folder: Path, pkg: str, ver: str) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().startswith(f"{pkg}-{ver}"))


def deb_version(work: Path, pkg: str) -> str:
    deb = sorted((work / "debs").glob(f"{pkg}_*.deb"))[-1]
    out = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------
# A minimal reader of R's XDR serialization, enough for the lazy-load data bases (data/Rdata.rdb/.rdx)
# of R packages that hold character vectors.


class _RReader:
    def __init__(self, data: bytes):
        self.d, self.p, self.refs = data, 0, []

    def _int(self) -> int:
        v = struct.unpack_from(">i", self.d, self.p)[0]
        self.p += 4
        return v

    def _raw(self, n: int) -> bytes:
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def parse(self):
        if self._raw(2) != b"X\n":
            raise ValueError("not an XDR R serialization")
        version = self._int()
        self._int(), self._int()
        if version == 3:
            self._raw(self._int())  # native encoding name
        return self._item()

    def _item(self):
        flags = self._int()
        kind, has_attr, has_tag = flags & 0xFF, bool(flags & (1 << 9)), bool(flags & (1 << 10))
        if kind in (254, 253, 242, 241, 251, 247, 252):  # NILVALUE and the other singletons
            return None
        if kind == 255:  # REFSXP
            idx = flags >> 8 or self._int()
            return self.refs[idx - 1]
        if kind == 1:  # SYMSXP
            sym = ("sym", self._item())
            self.refs.append(sym)
            return sym
        if kind == 9:  # CHARSXP
            n = self._int()
            return None if n == -1 else self._raw(n).decode("utf-8", "replace")
        if kind in (2, 6, 17):  # pairlists
            attr = self._item() if has_attr else None  # noqa: F841 - read and dropped
            tag = self._item() if has_tag else None
            car, cdr = self._item(), self._item()
            return [(tag, car)] + (cdr if isinstance(cdr, list) else [])
        if kind in (10, 13):  # LGLSXP, INTSXP
            n = self._int()
            v = list(struct.unpack_from(f">{n}i", self.d, self.p))
            self.p += 4 * n
        elif kind == 14:  # REALSXP
            n = self._int()
            v = list(struct.unpack_from(f">{n}d", self.d, self.p))
            self.p += 8 * n
        elif kind in (16, 19, 20):  # STRSXP, VECSXP, EXPRSXP
            v = [self._item() for _ in range(self._int())]
        else:
            raise ValueError(f"unsupported R object type {kind}")
        if has_attr:
            attrs = {tag[1]: val for tag, val in self._item() or [] if tag}
            return _RVector(v, attrs)
        return v


class _RVector(list):
    def __init__(self, values, attrs):
        super().__init__(values)
        self.attrs = attrs


def _r_decompress(blob: bytes) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    kind = blob[4:5]
    if kind == b"Z":
        return zlib.decompress(blob[5:])
    if kind == b"2":
        return bz2.decompress(blob[5:])
    if kind == b"X":
        return lzma.decompress(blob[5:])
    return zlib.decompress(blob[4:])


def read_r_lazyload(data_dir: Path) -> dict[str, object]:
    index = _RReader(_r_decompress((data_dir / "Rdata.rdx").read_bytes())).parse()
    variables = dict(zip(index.attrs["names"], index))["variables"]
    rdb = (data_dir / "Rdata.rdb").read_bytes()
    out = {}
    for name, (offset, length) in zip(variables.attrs["names"], variables):
        out[name] = _RReader(_r_decompress(rdb[int(offset):int(offset) + int(length)])).parse()
    return out


# --------------------------------------------------------------------------------------------------
# Paragraph extraction per source. Each yields paragraphs of running text; "\x00" marks a span that was
# code or markup-like (inline code, file names, commands, footnote references): sentences holding it are
# dropped later.

TAINT = "\x00"


def paragraphs_from_lines(lines: list[str]) -> list[str]:
    paras, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    if cur:
        paras.append(" ".join(cur))
    return paras


def austen_paragraphs(root: Path) -> list[str]:
    data = read_r_lazyload(root / "usr/lib/R/site-library/janeaustenr/data")
    paras = []
    for name in sorted(data):
        paras += paragraphs_from_lines(data[name])
    return paras


def melville_paragraphs(root: Path) -> list[str]:
    data = read_r_lazyload(root / "usr/lib/R/site-library/tokenizers/data")
    text = data["mobydick"][0].replace("\r\n", "\n")
    start = text.index("*** START OF")
    start = text.index("\n", start) + 1
    end = text.index("*** END OF")
    body = text[start:end]
    end_marker = body.rfind("End of Project Gutenberg")
    if end_marker != -1:
        body = body[:end_marker]
    return paragraphs_from_lines(body.split("\n"))


def bierce_paragraphs(root: Path) -> list[str]:
    with gzip.open(root / "usr/share/dictd/devil.dict.dz", "rt", encoding="latin-1") as f:
        lines = f.read().split("\n")
    # Definitions are the unindented paragraphs "HEADWORD, n.  Text ..."; indented ones are verse.
    out, cur, indented = [], [], False
    for line in lines + [""]:
        if line.strip():
            if not cur:
                indented = line[:1] in (" ", "\t")
            cur.append(line.strip())
            continue
        if cur and not indented:
            para = " ".join(cur)
            m = re.match(r"^[A-Z][A-Z' -]+,\s+(?:[a-z]+\.\s*)+\s+(.*)$", para)
            if m:
                out.append(m.group(1))
            elif not re.match(r"^[A-Z][A-Z' -]+[.,]", para):
                out.append(para)
        cur = []
    return out


class _DocHTML(HTMLParser):
    """Collects the text of paragraph elements (<p>, <div class="para">), with code-like spans tainted."""

    PARA_SKIP_CLASSES = {"title", "admonition-title", "availability", "audit-hook", "caption", "rubric",
                         "copyright", "footer", "related"}
    TAINT_TAGS = {"code", "tt", "kbd", "samp", "var", "pre", "sup", "sub", "img", "math", "svg", "abbr"}
    TAINT_CLASSES = {"pre", "replaceable", "userinput", "command", "filename", "literal", "pkg", "package",
                     "computeroutput", "citerefentry", "refentrytitle", "option", "parameter", "envar",
                     "footnote-reference", "sig-name", "guilabel", "guimenu", "keycap", "systemitem",
                     "application", "varname", "function", "classname", "prompt", "email", "uri", "ulink"}
    SKIP_TAGS = {"script", "style", "head", "table", "nav"}
    VOID = {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paras: list[str] = []
        self.stack: list[tuple[str, str]] = []   # (tag, role) role: para/taint/skip/other
        self.buf: list[str] | None = None
        self.depth_para = 0
        self.taint = 0
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            if tag in ("img",) and self.buf is not None:
                self.buf.append(TAINT)
            if tag == "br" and self.buf is not None:
                self.buf.append(" ")
            return
        classes = set((dict(attrs).get("class") or "").split())
        role = "other"
        if tag in self.SKIP_TAGS or "sphinxsidebar" in classes or "navheader" in classes \
                or "navfooter" in classes or "footer" in classes or "related" in classes:
            role = "skip"
            self.skip += 1
        elif tag in self.TAINT_TAGS or classes & self.TAINT_CLASSES:
            role = "taint"
            self.taint += 1
            if self.buf is not None:
                self.buf.append(TAINT)
        elif (tag == "p" or (tag == "div" and "para" in classes)) and not classes & self.PARA_SKIP_CLASSES:
            role = "para"
            if self.depth_para == 0:
                self.buf = []
            self.depth_para += 1
        elif tag == "p":
            role = "skip"
            self.skip += 1
        elif tag in ("div", "li", "dd", "dt", "ul", "ol", "dl", "blockquote", "h1", "h2", "h3", "h4"):
            # A block inside a paragraph container: keep its text, but as a separate unit.
            if self.buf is not None:
                self.buf.append(TAINT)
        self.stack.append((tag, role))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        # pop to the matching tag (HTML here is well formed; be lenient anyway)
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                break
        else:
            return
        while len(self.stack) > i:
            t, role = self.stack.pop()
            if role == "skip":
                self.skip -= 1
            elif role == "taint":
                self.taint -= 1
            elif role == "para":
                self.depth_para -= 1
                if self.depth_para == 0 and self.buf is not None:
                    self.paras.append("".join(self.buf))
                    self.buf = None

    def handle_data(self, data):
        if self.buf is None or self.skip:
            return
        if self.taint:
            return  # its text is represented by the TAINT mark
        self.buf.append(data)


def html_paragraphs(files: list[Path]) -> list[str]:
    out = []
    for f in files:
        p = _DocHTML()
        p.feed(f.read_text(encoding="utf-8", errors="replace"))
        p.close()
        out += p.paras
    return out


def debian_reference_paragraphs(root: Path) -> list[str]:
    return html_paragraphs(sorted((root / "usr/share/debian-reference").glob("*.en.html")))


def debian_handbook_paragraphs(root: Path) -> list[str]:
    files = sorted((root / "usr/share/doc/debian-handbook/html/en-US").glob("*.html"))
    return html_paragraphs([f for f in files if f.name not in ("index.html", "legal-notice.html")])


PY_DOC_DIRS = ("tutorial", "library", "reference", "howto", "faq", "using", "extending", "installing",
               "distributing", "install")


def python_docs_paragraphs(root: Path) -> list[str]:
    base = root / "usr/share/doc/python3.11/html"
    files = []
    for d in PY_DOC_DIRS:
        files += sorted((base / d).rglob("*.html"))
    files.append(base / "glossary.html")
    return html_paragraphs(files)


EXTRACTORS = {
    "austen": austen_paragraphs,
    "melville": melville_paragraphs,
    "bierce": bierce_paragraphs,
    "debian-reference": debian_reference_paragraphs,
    "debian-handbook": debian_handbook_paragraphs,
    "python-docs": python_docs_paragraphs,
}

# --------------------------------------------------------------------------------------------------
# Normalisation, sentence splitting, filtering.

TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2212": "-",
    "\u2014": " - ", "\u2015": " - ",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u200b": "", "\u00ad": "", "\ufeff": "",
    "\u00b6": "", "\u00e6": "ae", "\u00c6": "Ae", "\u0153": "oe", "\u0152": "Oe", "\u00df": "ss",
    "\u00f8": "o", "\u00d8": "O", "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D",
    "\u0131": "i", "\u00fe": "th", "\u00de": "Th", "\u00f0": "d", "\u00d0": "D",
})


def to_ascii(text: str) -> str:
    """Typographic punctuation to plain ASCII, accents stripped; anything else non-ASCII stays (and is
    rejected by the filters)."""
    text = text.translate(TRANSLATE)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def normalise_paragraph(text: str) -> str:
    text = to_ascii(html.unescape(text))
    text = re.sub(r"(?<=\w)_|_(?=\w)", "", text)        # Gutenberg _italics_
    text = re.sub(r"\s*--+\s*", " - ", text)              # ASCII em-dash
    text = re.sub(r"\s+", " ", text)
    return text.strip()


# Abbreviations after which a period does not end a sentence (lowercased, with their final period).
ABBREVIATIONS = {
    "mr.", "mrs.", "ms.", "messrs.", "mme.", "mlle.", "dr.", "st.", "mt.", "jr.", "sr.", "esq.", "rev.",
    "hon.", "capt.", "col.", "gen.", "lt.", "sgt.", "maj.", "adm.", "gov.", "prof.", "sen.", "rep.", "pres.",
    "e.g.", "i.e.", "etc.", "vs.", "viz.", "cf.", "al.", "approx.", "ca.", "no.", "nos.", "vol.", "vols.",
    "fig.", "figs.", "ch.", "chap.", "sec.", "p.", "pp.", "ed.", "eds.", "inc.", "ltd.", "co.", "corp.",
    "jan.", "feb.", "mar.", "apr.", "jun.", "jul.", "aug.", "sep.", "sept.", "oct.", "nov.", "dec.",
    "u.s.", "u.k.", "a.m.", "p.m.", "n.b.", "ibid.", "op.", "ft.", "lb.", "oz.", "esp.",
}

_BOUNDARY = re.compile(r"[.!?]+['\")\]]*\s+(?=['\"(\[]*[A-Z0-9])")


def split_sentences(paragraph: str) -> list[str]:
    out, start = [], 0
    for m in _BOUNDARY.finditer(paragraph):
        before = paragraph[start:m.start() + 1]
        last = before.split()[-1] if before.split() else ""
        token = last.lstrip("('\"[").lower()
        if paragraph[m.start()] == ".":
            if token in ABBREVIATIONS:
                continue
            if re.fullmatch(r"[a-z]\.", token) or re.fullmatch(r"(?:[a-z]\.){2,}", token):
                continue  # an initial (J. Smith) or a dotted abbreviation
        end = m.end()
        out.append(paragraph[start:end].strip())
        start = end
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    return out


# Words that make a sentence or a word unusable: profanity, slurs, sexual terms, and a few terms that
# would be jarring as names of teams, projects or products. Matched as whole lowercase words; the
# PREFIXES also match any word that starts with them.
BLOCKLIST = set("""
anal anus arsehole asshole assholes bastard bastards bitch bitches bitchy bollock bollocks boner boob
boobs buggery butthole chink chinks clit clitoris cock cocks coon coons crap crappy cum cunt cunts
darkie darky dick dicks dildo dyke dykes ejaculate ejaculation fag fagged faggot faggots fags fart
farted farting felch fellatio foreskin fornicate fornication fuck genital genitals gook gooks goy goyim
gringo handjob hebe homo homos honky hooker incest jap japs jerkoff jew jewess jism jizz kike kikes
lesbo lesbos lez masochism masochist masturbate masturbation molest molestation molester mongoloid
motherfucker negress negro negroes nigga nigger niggers nipple nipples orgasm orgy paedophile pedophile
pedophilia penis perv pervert perverts piss pissed pisser porn porno pornography prostitute prostitutes
pube pubes pubic pussy rape raped rapes rapist rapists rectal rectum redskin redskins retard retarded
sadism sadist sadomasochism scrotum semen sexy shit shits shitting shitty skank slut sluts slutty smut
sodomite sodomy spastic spic spick spics squaw testicle testicles tits titty tranny turd twat vagina
vaginal vibrator vulva wank wanker wetback whore whores wog wop wops
""".split())
# Not offensive in running text (sperm whale, social intercourse, a queer place, an oil-butt), but unwanted
# as names of teams, projects or products: excluded from words.txt.gz only.
NAMING_BLOCKLIST = BLOCKLIST | set("""
abortion arse ass asses booby bugger bum butt dammit damn damned dike erection erotic erotica fetish
genocide harlot heroin hitler holocaust horny hussy intercourse jihad kinky knocker knockers lust
lustful lynch lynching massacre nazi nazis nude nudity pecker phallic pimp prick pricks queer queers sex
sexes sexual sexuality shag slag slave slavery slaves sperm spunk strumpet suicidal suicide swastika
terrorism terrorist tit torture voyeur
""".split())
BLOCK_PREFIXES = ("fuck", "shit", "cunt", "nigg", "masturb", "pornog", "faggot", "whore", "bitch",
                  "asshole", "dickhead", "motherf", "cocksuck", "jerkoff", "blowjob")


# Blocked as common words, but also ordinary names (Dick, Moby Dick; Cock as a surname): allowed capitalised.
NAME_EXCEPTIONS = {"dick", "cock"}


def offensive(word: str, blocklist: set[str] = BLOCKLIST) -> bool:
    w = word.lower()
    if word[:1].isupper() and w in NAME_EXCEPTIONS:
        return False
    return w in blocklist or w.startswith(BLOCK_PREFIXES)


_ALLOWED = re.compile(r"[A-Za-z0-9 .,;:!?'()&-]+")
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def sentence_ok(s: str) -> bool:
    if TAINT in s or '"' in s or not _ALLOWED.fullmatch(s):
        return False
    words = s.split()
    if not 6 <= len(words) <= 40:
        return False
    if not ("A" <= s[0] <= "Z") or s[-1] not in ".!?" or s.endswith(".."):
        return False
    if re.match(r"^(?:[A-Z]|[IVXLC]+)[.)]\s", s):                 # enumerations: "A. ...", "IV. ..."
        return False
    if re.match(r"^(?:Chapter|CHAPTER|Volume|VOLUME|Book|BOOK|Part|PART)\b", s) and len(words) < 8:
        return False
    if re.search(r"https?|www\.|://|\.(?:com|org|net|edu|gov|io|html?)\b", s, re.I):
        return False
    if re.search(r"\d+\.\d|\bv\d|[A-Za-z]\d|\d[A-Za-z]{3,}", s):   # versions, identifiers, units glued on
        return False
    if re.search(r"[A-Za-z]{2,}\.[A-Za-z]", s):                   # dotted names (os.path, example.org)
        return False
    if re.search(r"[a-z][A-Z]", s):                               # camelCase identifiers
        return False
    if re.search(r"(?:^|\s)-{1,2}[A-Za-z]|\(\)|\s[-&]\s*[.!?]$|\s[,;:.!?]", s):  # flags, calls, spacing
        return False
    if re.search(r"\b(?:sudo|apt-get|apt|dpkg|chmod|chown|mkdir|grep|sed|awk|ssh|rm|cd|ls|cat|echo|pip|"
                 r"bash|stdin|stdout|stderr|printf|localhost)\b", s):
        return False
    for m in re.finditer(r"(\S+)\. [a-z]", s):                   # a lowercase start after a period
        token = m.group(1).lstrip("('").lower()
        if token + "." not in ABBREVIATIONS and not re.fullmatch(r"(?:[a-z]\.)*[a-z]", token):
            return False
    last = words[-1].lower()
    if last in ABBREVIATIONS or last == "miss." or re.search(r"\b[A-Z]\. [A-Z]\.$", s):
        return False
    if s.count("(") != s.count(")") or s.count("'") > 6:
        return False
    letters = [c for c in s if c.isalpha()]
    if not letters:
        return False
    if sum(c.isupper() for c in letters) / len(letters) > 0.2:
        return False
    if sum(1 for w in words if len(w) > 1 and w.strip(".,;:!?()'").isupper()) > 2:
        return False
    if sum(c.isdigit() for c in s) > max(4, len(s) // 20):
        return False
    if any(offensive(w) for w in _WORD.findall(s)):
        return False
    return True


def dedup_key(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", s.lower()).strip()


# --------------------------------------------------------------------------------------------------
# Builders.


def build_prose(roots: dict[str, Path]) -> tuple[list[tuple[str, str]], dict, collections.Counter]:
    """Returns (sorted (sentence, source) pairs, per-source stats, word counts over all paragraphs)."""
    rng = random.Random(SEED)
    seen: set[str] = set()
    chosen: list[tuple[str, str]] = []
    stats = {}
    word_counts: collections.Counter = collections.Counter()
    for key, (pkg, _register, _licence, cap) in SOURCES.items():
        paras = [normalise_paragraph(p) for p in EXTRACTORS[key](roots[pkg])]
        for p in paras:
            word_counts.update(w.lower() for w in re.findall(r"[A-Za-z]+", p.replace(TAINT, " ")))
        candidates, n_split = [], 0
        for p in paras:
            for s in split_sentences(p):
                n_split += 1
                s = s.strip()
                if sentence_ok(s):
                    k = dedup_key(s)
                    if k not in seen:
                        seen.add(k)
                        candidates.append(s)
        kept = candidates if len(candidates) <= cap else rng.sample(candidates, cap)
        stats[key] = {"package": pkg, "paragraphs": len(paras), "sentences_split": n_split,
                      "sentences_passing_filters": len(candidates), "sentences_kept": len(kept)}
        chosen += [(s, key) for s in kept]
        print(f"prose {key}: {len(paras)} paragraphs, {n_split} sentences, {len(candidates)} pass, "
              f"{len(kept)} kept", file=sys.stderr)
    chosen.sort()
    return chosen, stats, word_counts


STOPWORDS = set("""
about above across after again against all almost alone along already also although always among
another any anybody anyone anything anyway anywhere around because before behind below beneath beside
besides between beyond both but can cannot could did does doing done down during each either else
enough even ever every everybody everyone everything everywhere few for from further had has have
having her here hers herself him himself his how however into its itself just least less many may
might mine more most much must myself near neither never nevertheless next none nor not nothing now
off often once one only onto other others otherwise ought our ours ourselves out over own per perhaps
quite rather same several shall she should since some somebody someone something sometimes somewhat
somewhere still such than that the their theirs them themselves then there therefore these they this
those though through throughout thus till too toward towards under unless until upon very via was
were what whatever when whenever where wherever whether which while who whoever whole whom whose why
will with within without would yet you your yours yourself yourselves yes hello okay
""".split())


def read_scowl_levels(root: Path) -> dict[str, int]:
    """word -> smallest SCOWL size level (10 = most common ... 95 = rarest) among English/American lists."""
    level: dict[str, int] = {}
    base = root / "usr/share/dict/scowl"
    for f in sorted(base.iterdir()):
        m = re.fullmatch(r"(english|american)-words\.(\d+)", f.name)
        if not m:
            continue
        n = int(m.group(2))
        for w in f.read_text(encoding="latin-1").split("\n"):
            w = w.strip()
            if w and (w not in level or n < level[w]):
                level[w] = n
    return level


def read_wordnet_senses(root: Path) -> dict[str, dict[str, int]]:
    """lemma -> {pos: number of senses} from WordNet's index.{noun,adj,verb,adv}."""
    senses: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for pos in ("noun", "adj", "verb", "adv"):
        for line in (root / f"usr/share/wordnet/index.{pos}").read_text(encoding="latin-1").split("\n"):
            if not line or line.startswith(" "):
                continue
            parts = line.split()
            senses[parts[0]][pos] = int(parts[2])
    return senses


def inflected_form(w: str, senses: dict[str, dict[str, int]], verb_exc: set[str]) -> bool:
    """True for a regular plural of a noun lemma (hooks, glasses, berries), and for a verb's -ing/-ed form
    (or an irregular past form) with fewer than 3 noun/adjective senses of its own (perusing, lowered;
    but building, evening and wedding stay)."""
    def is_pos(stem: str, pos: str) -> bool:
        return len(stem) >= 2 and senses.get(stem, {}).get(pos, 0) > 0

    if w.endswith("s") and not w.endswith("ss"):
        stems = [w[:-1]]
        if w.endswith("es"):
            stems.append(w[:-2])
        if w.endswith("ies"):
            stems.append(w[:-3] + "y")
        if any(is_pos(st, "noun") for st in stems):
            return True
    own = senses.get(w, {})
    if own.get("noun", 0) + own.get("adj", 0) >= 3:
        return False
    stems = []
    if w.endswith("ing"):
        stems += [w[:-3], w[:-3] + "e"] + ([w[:-4]] if len(w) > 5 and w[-4] == w[-5] else [])
    if w.endswith("ed"):
        stems += [w[:-2], w[:-1]] + ([w[:-3]] if len(w) > 4 and w[-3] == w[-4] else [])
    if w.endswith("ied"):
        stems.append(w[:-3] + "y")
    return any(is_pos(st, "verb") for st in stems) or w in verb_exc


MAX_SCOWL_LEVEL = 50        # the "medium" size that wamerican/wbritish ship
MIN_PROSE_COUNT = 3         # words above the common core (level > 35) must occur this often in the prose


def build_words(roots: dict[str, Path], prose_counts: collections.Counter) -> tuple[list[str], dict]:
    level = read_scowl_levels(roots["scowl"])
    senses = read_wordnet_senses(roots["wordnet-base"])
    verb_exc = set()
    for line in (roots["wordnet-base"] / "usr/share/wordnet/verb.exc").read_text(encoding="latin-1").split("\n"):
        if line.strip():
            verb_exc.add(line.split()[0])
    out, reasons = [], collections.Counter()
    for w, lv in level.items():
        if lv > MAX_SCOWL_LEVEL:
            reasons["rarer than SCOWL level 50"] += 1
            continue
        if not re.fullmatch(r"[a-z]{3,12}", w):
            reasons["not 3-12 lowercase letters (proper nouns, possessives, accents)"] += 1
            continue
        s = senses.get(w)
        if not s or s.get("noun", 0) + s.get("adj", 0) == 0:
            reasons["not a WordNet noun or adjective lemma"] += 1
            continue
        if s.get("noun", 0) + s.get("adj", 0) < s.get("verb", 0) + s.get("adv", 0):
            reasons["mostly a verb or adverb in WordNet"] += 1
            continue
        if w in STOPWORDS:
            reasons["function word"] += 1
            continue
        if offensive(w, NAMING_BLOCKLIST):
            reasons["blocklist"] += 1
            continue
        if inflected_form(w, senses, verb_exc):
            reasons["an inflected form (plural, -ing, -ed) of another lemma"] += 1
            continue
        if lv > 35 and prose_counts[w] < MIN_PROSE_COUNT:
            reasons["uncommon (level 40-50) and rare in the prose"] += 1
            continue
        out.append(w)
    out.sort()
    return out, dict(sorted(reasons.items()))


def _ascii_name(name: str) -> str | None:
    name = to_ascii(name.strip())
    if not re.fullmatch(r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?|(?:Mc|Mac|O'|D'|Di|De|La|Le)[A-Z][a-z]+", name):
        return None
    if not 2 <= len(name) <= 20 or name in _NOT_NAMES:
        return None
    if len(name) <= 3 and not re.search(r"[aeiouyAEIOUY]", name) and name != "Ng":
        return None  # abbreviations in the census lists: Jc, Wm, Jn, Rm
    return name


# Two-letter entries of the lists that read as English words in running text (Vo, Wu, Oh, He, An stay).
_NOT_NAMES = {"In", "Us", "Un", "Ok", "As", "So", "To", "My", "Re", "Um", "Ah", "Ab", "If", "Is", "It", "Of",
              "On", "Or", "Up", "Ey", "Ir", "Ib", "Yr"}


def _faker_names(root: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(given, surname): name -> set of Faker locales, from faker/providers/person/*/__init__.py
    (parsed with ast, not imported)."""
    given: dict[str, set[str]] = collections.defaultdict(set)
    last: dict[str, set[str]] = collections.defaultdict(set)
    base = root / "faker/providers/person"
    for init in sorted(base.glob("*/__init__.py")):
        locale = init.parent.name
        tree = ast.parse(init.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for st in node.body:
                target = st.targets[0] if isinstance(st, ast.Assign) else getattr(st, "target", None)
                if not isinstance(target, ast.Name) or "kana" in target.id:
                    continue
                if re.fullmatch(r"(first|middle)_(romanized_)?names?\w*|first_name\w*_pairs", target.id):
                    bucket = given
                elif re.fullmatch(r"(\w+_)?last_names?\w*|last_name_pairs", target.id):
                    bucket = last
                else:
                    continue
                for c in ast.walk(st.value):
                    if isinstance(c, ast.Constant) and isinstance(c.value, str):
                        bucket[c.value].add(locale)
    return given, last


CENSUS_SURNAMES = 25000     # the most frequent census surnames (of 88,799) kept


def build_names(roots: dict[str, Path]) -> tuple[list[str], list[str], dict]:
    names_dir = next(roots["names"].glob("names-*/names"))
    given_f, last_f = _faker_names(roots["faker"])
    # Faker spells some surnames with internal capitals or apostrophes (McDonald, O'Brien) that the
    # census files flatten to MCDONALD, OBRIEN: use Faker's spelling for those.
    spelled = {}
    for n in list(last_f) + list(given_f):
        a = _ascii_name(n)
        if a and not re.fullmatch(r"[A-Z][a-z]+", a):
            spelled.setdefault(re.sub(r"[^a-z]", "", a.lower()), a)

    def census(path: Path, limit: int | None) -> list[str]:
        out = []
        for line in path.read_text(encoding="ascii").split("\n")[:limit]:
            if line.strip():
                raw = line.split()[0].lower()
                out.append(spelled.get(raw, raw.capitalize()))
        return out

    stats = {}
    given: set[str] = set()
    for f in ("dist.female.first", "dist.male.first"):
        names = [n for n in (_ascii_name(x) for x in census(names_dir / f, None)) if n]
        stats[f"names {f}"] = len(names)
        given.update(names)
    surn: set[str] = set(n for n in (_ascii_name(x) for x in census(names_dir / "dist.all.last", CENSUS_SURNAMES)) if n)
    stats["names dist.all.last (top %d)" % CENSUS_SURNAMES] = len(surn)
    n_census_given, n_census_last = len(given), len(surn)
    fg = {a for a in (_ascii_name(n) for n in given_f) if a}
    fl = {a for a in (_ascii_name(n) for n in last_f) if a}
    given |= fg
    surn |= fl
    stats["faker given names (ASCII-transliterable)"] = len(fg)
    stats["faker surnames (ASCII-transliterable)"] = len(fl)
    stats["given added by faker beyond census"] = len(given) - n_census_given
    stats["surnames added by faker beyond census"] = len(surn) - n_census_last
    given = {g for g in given if not offensive(g, NAMING_BLOCKLIST)}
    surn = {s for s in surn if not offensive(s, NAMING_BLOCKLIST)}
    return _one_spelling(given, mc=False), _one_spelling(surn, mc=True), stats


def _one_spelling(names: set[str], mc: bool) -> list[str]:
    """One spelling per name: Obrien/O'Brien (census and Faker's en_US lists flatten such names) -> the
    spelling with the apostrophe or inner capital; with mc (surnames), Mcdonald -> McDonald (not for
    given names: Mcebisi is a Zulu given name)."""
    best: dict[str, str] = {}
    for n in sorted(names):
        if mc and re.fullmatch(r"Mc[a-z]{2,}", n):
            n = "Mc" + n[2:].capitalize()
        key = re.sub(r"[^a-z]", "", n.lower())
        fancy = not re.fullmatch(r"[A-Z][a-z]+", n)
        if key not in best or (fancy and re.fullmatch(r"[A-Z][a-z]+", best[key])):
            best[key] = n
    return sorted(set(best.values()))


# --------------------------------------------------------------------------------------------------


def write_gz(path: Path, lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as g:
        g.write(data)
    path.write_bytes(buf.getvalue())
    print(f"wrote {path.name}: {len(lines)} lines, {len(buf.getvalue())} bytes", file=sys.stderr)


# --------------------------------------------------------------------------------------------------
# The hand-written evaluation measures reading text nobody trained on: its names are withheld.

HELD_OUT_SET = HERE.parents[1] / "evaluation" / "handwritten.json"


def held_out_names(path: Path = HELD_OUT_SET) -> frozenset[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return frozenset(name.lower() for doc in data["documents"] for name in doc["names"])


def withhold(lines: list[str], names: frozenset[str]) -> list[str]:
    """``lines`` without those that contain a held-out name as a word (names, words, prose sentences)."""
    return [line for line in lines if not any(w in names for w in re.findall(r"[a-z]+", line.lower()))]


def withhold_in_place(out: Path) -> None:
    """Drop held-out names from the files already built (no download), keeping prose and its sources aligned."""
    names = held_out_names()
    read = lambda name: gzip.decompress((out / name).read_bytes()).decode("utf-8").split("\n")[:-1]  # noqa: E731
    prose = [(s, k) for s, k in zip(read("prose.txt.gz"), read("prose_sources.txt.gz")) if withhold([s], names)]
    write_gz(out / "prose.txt.gz", [s for s, _ in prose])
    write_gz(out / "prose_sources.txt.gz", [k for _, k in prose])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["prose"]["lines"] = len(prose)
    for name, key in (("words.txt.gz", "words"), ("given_names.txt.gz", "given_names"),
                      ("surnames.txt.gz", "surnames")):
        kept = withhold(read(name), names)
        write_gz(out / name, kept)
        manifest[key]["lines"] = len(kept)
    manifest["withheld"] = {"from": "build_scripts/evaluation/handwritten.json", "names": len(names)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/ponder-sources"),
                    help="download and unpack directory (reused when it already holds the packages)")
    ap.add_argument("--out", type=Path, default=HERE, help="output directory (default: next to this file)")
    ap.add_argument("--any-version", action="store_true",
                    help="if a pinned Debian version is no longer downloadable, take the current one")
    ap.add_argument("--clean", action="store_true", help="delete the work directory afterwards")
    ap.add_argument("--withhold-only", action="store_true",
                    help="only drop the hand-written evaluation's names from the files already in --out")
    args = ap.parse_args(argv)
    if args.withhold_only:
        withhold_in_place(args.out)
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    roots = fetch(args.work, args.any_version)

    prose, prose_stats, counts = build_prose(roots)
    words, word_reasons = build_words(roots, counts)
    given, surnames, name_stats = build_names(roots)

    names = held_out_names()
    prose = [(s, k) for s, k in prose if withhold([s], names)]
    words, given, surnames = withhold(words, names), withhold(given, names), withhold(surnames, names)
    out = args.out
    write_gz(out / "prose.txt.gz", [s for s, _ in prose])
    write_gz(out / "prose_sources.txt.gz", [k for _, k in prose])
    write_gz(out / "words.txt.gz", words)
    write_gz(out / "given_names.txt.gz", given)
    write_gz(out / "surnames.txt.gz", surnames)

    debs = {}
    for pkg in DEBS:
        deb = sorted((args.work / "debs").glob(f"{pkg}_*.deb"))[-1]
        debs[pkg] = {"version": deb_version(args.work, pkg), "file": deb.name, "sha256": sha256(deb)}
    pypi = {}
    for pkg, ver in PYPI.items():
        f = _pypi_files(args.work / "pypi", pkg, ver)[0]
        pypi[pkg] = {"version": ver, "file": f.name, "sha256": sha256(f)}
    manifest = {
        "seed": SEED,
        "debian_packages": debs,
        "pypi_packages": pypi,
        "prose": {"lines": len(prose),
                  "sources": {k: {"register": SOURCES[k][1], "licence": SOURCES[k][2], "cap": SOURCES[k][3],
                                  "package_version": debs[SOURCES[k][0]]["version"], **v}
                              for k, v in prose_stats.items()}},
        "words": {"lines": len(words), "max_scowl_level": MAX_SCOWL_LEVEL, "min_prose_count": MIN_PROSE_COUNT,
                  "excluded": word_reasons},
        "given_names": {"lines": len(given)},
        "surnames": {"lines": len(surnames)},
        "names": name_stats,
        "withheld": {"from": "build_scripts/evaluation/handwritten.json", "names": len(names)},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    if args.clean:
        shutil.rmtree(args.work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
