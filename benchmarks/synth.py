"""Synthetic knowledge bases and labelled questions for the benchmark.

Everything here is deterministic for a given seed (``random.Random`` only, no set
iteration), so two runs benchmark exactly the same files and questions.

A synthetic entry is one *subject* (a facility or a neighbourhood programme:
puskesmas, posyandu, drainase, bedah rumah, ...) in one *place* (an invented but
plausible kelurahan-like name: "Karang Lamaru", "Telaga Sari"), with two figures,
eight question aliases, keywords, a topic and a source, written as YAML in the real
schema (``docs/KNOWLEDGE.md``) and loaded with the real loader.

Questions are labelled like ``tests/eval/questions.yaml``:

* ``in_scope``: about one entry (``expect``), phrased with templates the aliases do
  not use, then roughed up the way residents type (slang, dropped or swapped
  letters, stretched letters, word order, fillers, emoji);
* ``near_miss``: a subject and a place that both exist, but not together
  ("posyandu Karang Jati" when only "puskesmas Karang Jati" is known) - abstaining
  is right;
* ``out_of_scope``: general knowledge (recipes, football, capitals) - abstaining is
  right.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import yaml

from bot.paths import KNOWLEDGE_DIR
from bot.text import format_number

ENTRIES_PER_FILE = 200  # keeps every file far below the loader's 1 MB limit
ALIASES_PER_ENTRY = 8


@dataclass(frozen=True)
class Attribute:
    label: str  # figure label, also how questions name it
    unit: str
    low: int
    high: int
    decimals: bool = False


@dataclass(frozen=True)
class Subject:
    code: str  # short id part
    title: str  # as in an entry title ("Puskesmas")
    names: tuple[str, ...]  # how residents name it; the first is canonical
    kind: str
    topic: str
    attributes: tuple[Attribute, ...]


def _a(label: str, unit: str, low: int, high: int, decimals: bool = False) -> Attribute:
    return Attribute(label, unit, low, high, decimals)


SUBJECTS: tuple[Subject, ...] = (
    Subject(
        "pkm",
        "Puskesmas",
        ("puskesmas", "pkm", "puskes"),
        "facility",
        "kesehatan",
        (
            _a("kunjungan pasien", "kunjungan", 3000, 60000),
            _a("tenaga kesehatan", "orang", 12, 90),
            _a("tempat tidur rawat inap", "tempat tidur", 4, 30),
        ),
    ),
    Subject(
        "pustu",
        "Puskesmas Pembantu",
        ("puskesmas pembantu", "pustu"),
        "facility",
        "kesehatan",
        (_a("kunjungan pasien", "kunjungan", 500, 9000), _a("bidan desa", "orang", 1, 6)),
    ),
    Subject(
        "posy",
        "Posyandu",
        ("posyandu", "pos yandu"),
        "facility",
        "stunting",
        (
            _a("balita terdaftar", "balita", 20, 300),
            _a("kader posyandu", "orang", 4, 15),
            _a("balita stunting", "balita", 0, 25),
        ),
    ),
    Subject(
        "sdn",
        "SD Negeri",
        ("sd negeri", "sdn", "sekolah dasar"),
        "facility",
        "pendidikan",
        (
            _a("jumlah siswa", "siswa", 150, 900),
            _a("ruang kelas baru", "ruang", 1, 8),
            _a("jumlah guru", "guru", 8, 45),
        ),
    ),
    Subject(
        "smpn",
        "SMP Negeri",
        ("smp negeri", "smpn", "sekolah menengah pertama"),
        "facility",
        "pendidikan",
        (_a("jumlah siswa", "siswa", 300, 1200), _a("jumlah guru", "guru", 20, 70)),
    ),
    Subject(
        "paud",
        "PAUD Terpadu",
        ("paud terpadu", "paud"),
        "facility",
        "pendidikan",
        (_a("anak didik", "anak", 15, 120), _a("tenaga pendidik", "orang", 2, 12)),
    ),
    Subject(
        "taman",
        "Taman Kota",
        ("taman kota", "taman"),
        "facility",
        "lingkungan",
        (
            _a("luas taman", "meter persegi", 800, 25000),
            _a("anggaran revitalisasi", "juta rupiah", 150, 4000),
        ),
    ),
    Subject(
        "rth",
        "Ruang Terbuka Hijau",
        ("ruang terbuka hijau", "rth"),
        "facility",
        "lingkungan",
        (
            _a("luas lahan", "hektare", 1, 40, decimals=True),
            _a("pohon ditanam", "pohon", 100, 5000),
        ),
    ),
    Subject(
        "pasar",
        "Pasar Rakyat",
        ("pasar rakyat", "pasar tradisional", "pasar"),
        "facility",
        "ekonomi",
        (
            _a("jumlah pedagang", "pedagang", 40, 900),
            _a("kios direvitalisasi", "kios", 10, 300),
            _a("anggaran revitalisasi", "juta rupiah", 500, 20000),
        ),
    ),
    Subject(
        "jalan",
        "Peningkatan Jalan Lingkungan",
        ("peningkatan jalan lingkungan", "perbaikan jalan", "jalan lingkungan"),
        "program",
        "infrastruktur",
        (
            _a("panjang jalan diperbaiki", "meter", 200, 8000),
            _a("anggaran perbaikan", "juta rupiah", 300, 15000),
        ),
    ),
    Subject(
        "drain",
        "Normalisasi Drainase",
        ("normalisasi drainase", "drainase", "saluran drainase"),
        "program",
        "banjir",
        (_a("panjang saluran", "meter", 150, 6000), _a("titik genangan berkurang", "titik", 1, 20)),
    ),
    Subject(
        "bendali",
        "Kolam Retensi",
        ("kolam retensi", "bendali", "bendungan pengendali"),
        "facility",
        "banjir",
        (
            _a("kapasitas tampung", "meter kubik", 5000, 400000),
            _a("luas genangan", "hektare", 1, 30, decimals=True),
        ),
    ),
    Subject(
        "kantor",
        "Kantor Kelurahan",
        ("kantor kelurahan", "kantor lurah"),
        "facility",
        "birokrasi",
        (_a("layanan per bulan", "layanan", 100, 3000), _a("pegawai kelurahan", "orang", 8, 40)),
    ),
    Subject(
        "bsampah",
        "Bank Sampah",
        ("bank sampah",),
        "program",
        "lingkungan",
        (_a("jumlah nasabah", "nasabah", 30, 1500), _a("sampah terkelola", "kilogram", 500, 40000)),
    ),
    Subject(
        "sumur",
        "Sumur Bor Warga",
        ("sumur bor", "sumur bor warga", "air bersih"),
        "facility",
        "air-bersih",
        (
            _a("sambungan rumah", "sambungan", 20, 900),
            _a("debit air", "liter per detik", 1, 20, decimals=True),
        ),
    ),
    Subject(
        "pju",
        "Penerangan Jalan Umum",
        ("penerangan jalan umum", "pju", "lampu jalan"),
        "program",
        "infrastruktur",
        (
            _a("titik lampu baru", "titik", 10, 600),
            _a("anggaran penerangan", "juta rupiah", 100, 5000),
        ),
    ),
    Subject(
        "lapangan",
        "Lapangan Olahraga",
        ("lapangan olahraga", "lapangan"),
        "facility",
        "olahraga",
        (
            _a("kapasitas penonton", "orang", 100, 5000),
            _a("luas lapangan", "meter persegi", 600, 12000),
        ),
    ),
    Subject(
        "perpus",
        "Perpustakaan Kelurahan",
        ("perpustakaan kelurahan", "perpustakaan", "perpus"),
        "facility",
        "pendidikan",
        (_a("koleksi buku", "judul", 500, 20000), _a("pengunjung per tahun", "orang", 300, 30000)),
    ),
    Subject(
        "bedah",
        "Bedah Rumah",
        ("bedah rumah", "rehab rumah tidak layak huni", "rtlh"),
        "program",
        "sosial",
        (
            _a("rumah direhabilitasi", "rumah", 5, 150),
            _a("anggaran bedah rumah", "juta rupiah", 100, 6000),
        ),
    ),
    Subject(
        "beasiswa",
        "Beasiswa Warga",
        ("beasiswa warga", "beasiswa"),
        "program",
        "pendidikan",
        (
            _a("penerima beasiswa", "pelajar", 10, 800),
            _a("nilai beasiswa", "juta rupiah", 50, 5000),
        ),
    ),
    Subject(
        "latih",
        "Pelatihan Kerja",
        ("pelatihan kerja", "pelatihan keterampilan"),
        "program",
        "ekonomi",
        (
            _a("peserta pelatihan", "peserta", 20, 600),
            _a("peserta terserap kerja", "orang", 5, 300),
        ),
    ),
    Subject(
        "umkm",
        "UMKM Binaan",
        ("umkm binaan", "umkm"),
        "program",
        "ekonomi",
        (
            _a("jumlah umkm binaan", "pelaku usaha", 10, 900),
            _a("bantuan modal", "juta rupiah", 50, 3000),
        ),
    ),
    Subject(
        "ronda",
        "Pos Kamling",
        ("pos kamling", "pos ronda"),
        "facility",
        "keamanan",
        (_a("jumlah pos", "pos", 2, 40), _a("anggota linmas", "orang", 5, 120)),
    ),
    Subject(
        "jembatan",
        "Jembatan Penghubung",
        ("jembatan penghubung", "jembatan"),
        "facility",
        "infrastruktur",
        (
            _a("panjang jembatan", "meter", 8, 400),
            _a("anggaran pembangunan", "juta rupiah", 400, 40000),
        ),
    ),
    Subject(
        "tpu",
        "Tempat Pemakaman Umum",
        ("tempat pemakaman umum", "tpu", "makam umum"),
        "facility",
        "sosial",
        (
            _a("kapasitas makam", "petak", 300, 9000),
            _a("luas pemakaman", "hektare", 1, 25, decimals=True),
        ),
    ),
    Subject(
        "halte",
        "Halte Angkutan Kota",
        ("halte angkutan kota", "halte", "halte angkot"),
        "facility",
        "transportasi",
        (_a("jumlah halte", "halte", 2, 40), _a("penumpang per hari", "penumpang", 100, 6000)),
    ),
    Subject(
        "tps",
        "Tempat Penampungan Sementara",
        ("tempat penampungan sementara", "tps", "tempat sampah sementara"),
        "facility",
        "lingkungan",
        (_a("kapasitas sampah", "ton", 2, 60), _a("armada pengangkut", "truk", 1, 12)),
    ),
    Subject(
        "rusun",
        "Rumah Susun Sewa",
        ("rumah susun sewa", "rusunawa", "rusun"),
        "facility",
        "sosial",
        (_a("unit hunian", "unit", 40, 400), _a("tarif sewa bulanan", "ribu rupiah", 150, 900)),
    ),
    Subject(
        "balai",
        "Balai Warga",
        ("balai warga", "gedung serbaguna"),
        "facility",
        "sosial",
        (_a("kapasitas gedung", "orang", 50, 800), _a("kegiatan per tahun", "kegiatan", 10, 300)),
    ),
    Subject(
        "hidran",
        "Hidran Kebakaran",
        ("hidran kebakaran", "hidran"),
        "facility",
        "keamanan",
        (_a("jumlah hidran", "hidran", 2, 60), _a("tekanan air", "bar", 3, 12, decimals=True)),
    ),
    Subject(
        "damkar",
        "Pos Pemadam Kebakaran",
        ("pos pemadam kebakaran", "pos damkar", "pemadam kebakaran"),
        "facility",
        "keamanan",
        (_a("armada pemadam", "unit", 1, 10), _a("personel pemadam", "orang", 10, 80)),
    ),
    Subject(
        "embung",
        "Embung",
        ("embung", "embung air baku"),
        "facility",
        "air-bersih",
        (
            _a("kapasitas embung", "meter kubik", 10000, 900000),
            _a("luas embung", "hektare", 1, 20, decimals=True),
        ),
    ),
    Subject(
        "rbra",
        "Ruang Bermain Ramah Anak",
        ("ruang bermain ramah anak", "rbra", "taman bermain anak"),
        "facility",
        "anak",
        (
            _a("luas area bermain", "meter persegi", 100, 3000),
            _a("wahana permainan", "wahana", 3, 25),
        ),
    ),
    Subject(
        "proklim",
        "Kampung Iklim",
        ("kampung iklim", "proklim"),
        "program",
        "lingkungan",
        (
            _a("rumah tangga terlibat", "rumah tangga", 30, 900),
            _a("biopori dibuat", "lubang", 50, 3000),
        ),
    ),
    Subject(
        "kuliner",
        "Sentra Kuliner",
        ("sentra kuliner", "pusat kuliner"),
        "facility",
        "ekonomi",
        (_a("jumlah tenant", "tenant", 10, 120), _a("pengunjung per bulan", "orang", 500, 40000)),
    ),
    Subject(
        "trotoar",
        "Penataan Trotoar",
        ("penataan trotoar", "trotoar"),
        "program",
        "infrastruktur",
        (
            _a("panjang trotoar", "meter", 100, 5000),
            _a("anggaran penataan", "juta rupiah", 200, 9000),
        ),
    ),
    Subject(
        "pamsimas",
        "Pipanisasi Air Bersih",
        ("pipanisasi air bersih", "pipa pdam", "jaringan pipa air"),
        "program",
        "air-bersih",
        (
            _a("panjang pipa", "meter", 300, 20000),
            _a("sambungan rumah baru", "sambungan", 30, 2000),
        ),
    ),
    Subject(
        "gizi",
        "Pemberian Makanan Tambahan",
        ("pemberian makanan tambahan", "pmt balita", "makanan tambahan balita"),
        "program",
        "stunting",
        (_a("balita penerima", "balita", 10, 400), _a("paket makanan", "paket", 100, 9000)),
    ),
    Subject(
        "wifi",
        "Wifi Publik",
        ("wifi publik", "internet gratis", "wifi gratis"),
        "program",
        "inovasi",
        (_a("titik wifi", "titik", 1, 40), _a("pengguna per bulan", "pengguna", 100, 20000)),
    ),
    Subject(
        "dermaga",
        "Dermaga Nelayan",
        ("dermaga nelayan", "dermaga"),
        "facility",
        "ekonomi",
        (_a("nelayan terlayani", "nelayan", 20, 700), _a("panjang dermaga", "meter", 20, 300)),
    ),
)

TOPICS: tuple[tuple[str, str, str], ...] = (
    ("kesehatan", "Kesehatan", "🏥"),
    ("stunting", "Stunting dan Gizi Balita", "👶"),
    ("pendidikan", "Pendidikan", "🎓"),
    ("lingkungan", "Lingkungan Hidup", "♻️"),
    ("ekonomi", "Ekonomi dan UMKM", "🛒"),
    ("infrastruktur", "Infrastruktur", "🛣️"),
    ("banjir", "Pengendalian Banjir", "🌊"),
    ("birokrasi", "Pelayanan Kelurahan", "🏛️"),
    ("air-bersih", "Air Bersih", "🚰"),
    ("olahraga", "Olahraga", "⚽"),
    ("sosial", "Sosial dan Perumahan", "🏠"),
    ("keamanan", "Keamanan dan Kebakaran", "🚒"),
    ("transportasi", "Transportasi", "🚌"),
    ("anak", "Kota Layak Anak", "🧒"),
    ("inovasi", "Inovasi dan Digital", "💡"),
)

PUBLISHERS = (
    "Dinas Kesehatan Kota Balikpapan",
    "Dinas Pendidikan dan Kebudayaan Kota Balikpapan",
    "Dinas Pekerjaan Umum Kota Balikpapan",
    "Dinas Lingkungan Hidup Kota Balikpapan",
    "Dinas Koperasi UMKM dan Perindustrian Kota Balikpapan",
    "Bappedalitbang Kota Balikpapan",
    "Dinas Perumahan dan Permukiman Kota Balikpapan",
    "Dinas Sosial Kota Balikpapan",
    "Badan Pusat Statistik Kota Balikpapan",
    "Dinas Komunikasi dan Informatika Kota Balikpapan",
)

# Kelurahan-like names: a common first word and a second word, real-sounding or invented.
PLACE_FIRST = (
    "Karang",
    "Gunung",
    "Sungai",
    "Batu",
    "Telaga",
    "Muara",
    "Tanjung",
    "Bukit",
    "Teluk",
    "Damai",
    "Marga",
    "Sumber",
    "Lembah",
    "Graha",
    "Kampung",
    "Padang",
    "Rawa",
    "Tegal",
    "Kebun",
    "Pasir",
)
PLACE_SECOND = (
    "Jati",
    "Rejo",
    "Sari",
    "Indah",
    "Asri",
    "Makmur",
    "Mulya",
    "Ampal",
    "Bahagia",
    "Raya",
    "Permai",
    "Lestari",
    "Harapan",
    "Jaya",
    "Sejahtera",
    "Merdeka",
    "Kencana",
    "Joang",
    "Pandan",
    "Seroja",
)
_SYLLABLES = (
    "ka",
    "la",
    "ma",
    "ra",
    "sa",
    "ta",
    "pa",
    "ba",
    "ga",
    "ja",
    "ru",
    "lu",
    "mi",
    "ri",
    "su",
    "to",
    "po",
    "se",
    "ke",
    "di",
    "ngi",
    "jang",
    "kan",
    "rang",
    "dung",
    "pin",
    "mang",
    "tam",
)
INVENTED_SECOND = 30

YEARS = (2023, 2024, 2025)
SCALES = {"ribu": 1000, "juta": 1_000_000}  # "572 juta rupiah" in the answer = 572000000

# --- question templates -------------------------------------------------------------------
# {s} subject name, {p} place, {a} attribute label, {y} year.
ALIAS_TEMPLATES = (
    "{s} {p}",
    "{s} di {p}",
    "{s} kelurahan {p}",
    "berapa {a} {s} {p}",
    "{a} {s} {p} tahun {y}",
    "bagaimana kondisi {s} {p}",
    "data {s} {p}",
    "perkembangan {s} {p} balikpapan",
    "apa saja capaian {s} {p}",
    "{s} {p} sekarang seperti apa",
)
QUESTION_TEMPLATES = (
    "{s} {p} itu gimana sekarang",
    "brp {a} {s} di {p}",
    "mau tanya soal {s} {p} dong",
    "{p} {s}",
    "ada data {a} {s} {p} gk",
    "{s} yg di {p} gmn kabarnya",
    "{a} {s} kel {p} thn {y}",
    "Berapa {a} di {s} {p}?",
    "min, {a} {s} {p} brp ya",
    "info {s} daerah {p} dong kak",
    "{s} {p} udh ada blm",
    "jumlah {a} {s} {p} berapa sih",
)
OUT_OF_SCOPE_TEMPLATES = (
    ("siapa presiden pertama {x}", ("amerika", "indonesia", "prancis", "rusia", "turki")),
    ("ibu kota {x} apa", ("australia", "kanada", "brasil", "nigeria", "kazakhstan", "peru")),
    (
        "resep {x} yang enak",
        ("nasi goreng", "rendang", "soto banjar", "martabak manis", "bakso urat", "pempek"),
    ),
    (
        "cara membuat {x}",
        ("layangan", "pupuk kompos", "sabun cair", "kue lapis", "website", "akun email"),
    ),
    (
        "harga {x} hari ini berapa",
        ("emas", "bitcoin", "cabai rawit", "bawang merah", "minyak goreng", "dolar"),
    ),
    (
        "jadwal pertandingan {x} malam ini",
        ("persib", "real madrid", "timnas", "barcelona", "liverpool"),
    ),
    ("lirik lagu {x}", ("indonesia raya", "bengawan solo", "lathi", "kopi dangdut")),
    ("berapa tinggi gunung {x}", ("everest", "semeru", "rinjani", "kerinci", "bromo")),
    ("apa arti kata {x}", ("serendipity", "ambigu", "estetika", "nostalgia", "hegemoni")),
    (
        "rekomendasi {x} murah",
        ("hp gaming", "laptop kuliah", "motor matic", "sepatu lari", "kamera"),
    ),
    ("cuaca besok di {x} gimana", ("tokyo", "london", "mekkah", "bangkok")),
    ("siapa penemu {x}", ("lampu pijar", "telepon", "pesawat terbang", "penisilin", "mesin uap")),
    ("berapa jarak bumi ke {x}", ("bulan", "matahari", "mars", "jupiter")),
    ("film {x} terbaik tahun ini", ("horor", "animasi", "komedi", "laga")),
    ("kenapa langit berwarna {x}", ("biru", "jingga", "merah")),
    (
        "bagaimana cara {x}",
        (
            "menurunkan berat badan",
            "belajar bahasa inggris",
            "main gitar",
            "menanam cabai",
            "merawat kucing",
        ),
    ),
)

SLANG = {
    "berapa": ("brp", "brapa"),
    "yang": ("yg",),
    "dimana": ("dmn",),
    "bagaimana": ("gmn", "gimana"),
    "sudah": ("udh", "udah"),
    "belum": ("blm",),
    "tahun": ("thn", "taun"),
    "kelurahan": ("kel",),
    "balikpapan": ("bpp", "bpn"),
    "tidak": ("gk", "ga"),
    "sekolah": ("sklh",),
    "untuk": ("utk",),
}
FILLERS = ("min", "kak", "dong", "ya", "sih", "gan")
EMOJI = ("🙏", "??", "?", "🤔", "!!", "😊")


@dataclass(frozen=True)
class SynthEntry:
    id: str
    subject: Subject
    place: str
    attributes: tuple[Attribute, ...]
    year: int


@dataclass(frozen=True)
class Question:
    q: str
    type: str  # in_scope | near_miss | out_of_scope
    expect: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"q": self.q, "type": self.type, "expect": self.expect}


def places(seed: int = 7) -> list[str]:
    """All place names, real-sounding second words plus invented ones."""
    rng = random.Random(seed)
    invented: list[str] = []
    while len(invented) < INVENTED_SECOND:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()
        if len(word) >= 5 and word not in invented and word not in PLACE_SECOND:
            invented.append(word)
    return [f"{a} {b}" for a in PLACE_FIRST for b in (*PLACE_SECOND, *invented)]


def catalogue(n: int, seed: int = 1) -> tuple[list[SynthEntry], list[tuple[Subject, str]]]:
    """``n`` entries (subject x place pairs) and the pairs left out, for near misses."""
    pairs = [(s, p) for s in SUBJECTS for p in places()]
    if n > len(pairs):
        raise ValueError(f"at most {len(pairs)} synthetic entries")
    rng = random.Random(seed)
    rng.shuffle(pairs)
    chosen, rest = pairs[:n], pairs[n:]
    entries = []
    for i, (subject, place) in enumerate(chosen):
        attrs = list(subject.attributes)
        rng.shuffle(attrs)
        entries.append(
            SynthEntry(
                f"{subject.code}-{i:05d}", subject, place, tuple(attrs[:2]), rng.choice(YEARS)
            )
        )
    return entries, rest


def _value(rng: random.Random, attr: Attribute) -> Decimal:
    if attr.decimals:
        return Decimal(rng.randint(attr.low * 10, attr.high * 10)) / 10
    return Decimal(rng.randint(attr.low, attr.high))


def _entry_yaml(e: SynthEntry, rng: random.Random, n_sources: int) -> dict:
    s, p = e.subject, e.place
    title = f"{s.title} {p}"
    figures, parts = [], []
    for attr in e.attributes:
        value = _value(rng, attr)
        scale, _, unit = attr.unit.partition(" ")
        full = value * SCALES[scale] if scale in SCALES else value
        if scale not in SCALES:
            unit = attr.unit
        number = int(full) if full == full.to_integral_value() else float(full)
        figures.append(
            {"label": attr.label.capitalize(), "value": number, "unit": unit, "year": e.year}
        )
        parts.append(f"{attr.label} {format_number(value)} {attr.unit}")
    answer = (
        f"Menurut data Pemerintah Kota Balikpapan, {title} di Kelurahan {p} mencatat "
        f"{parts[0]} dan {parts[1]} pada {e.year}."
    )
    aliases: list[str] = []
    templates = list(ALIAS_TEMPLATES)
    rng.shuffle(templates)
    for template in templates:
        if len(aliases) == ALIASES_PER_ENTRY:
            break
        attr = rng.choice(e.attributes)
        text = template.format(s=rng.choice(s.names), p=p.lower(), a=attr.label, y=e.year)
        if text not in aliases:
            aliases.append(text)
    source = rng.randrange(n_sources)
    rng.randint(1, 28)  # the day as_of once took: the rest of the stream stays as it was
    return {
        "id": e.id,
        "kind": s.kind,
        "title": title,
        "answer": answer,
        "figures": figures,
        "questions": aliases,
        "keywords": [s.names[0], p.lower(), *(a.label for a in e.attributes)],
        "topics": [s.topic],
        "sources": [f"sumber-{source:02d}"],
        "as_of": _source_date(source),  # "data per" is the date of the entry's source
    }


def _source_date(i: int) -> date:
    return date(2025, 1 + i % 12, 1 + i % 28)


def write_knowledge(folder: Path, n: int, seed: int = 1) -> list[SynthEntry]:
    """Write a knowledge folder with ``n`` synthetic entries, plus the real slang and
    smalltalk files (the bot's language resources, whatever the entries are)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries, _ = catalogue(n, seed)
    rng = random.Random(seed + 1)
    sources = [
        {
            "id": f"sumber-{i:02d}",
            "publisher": PUBLISHERS[i % len(PUBLISHERS)],
            "title": f"Laporan Kinerja Tahunan {PUBLISHERS[i % len(PUBLISHERS)]} ({i + 1})",
            "date": _source_date(i),
        }
        for i in range(20)
    ]
    topics = [{"id": t, "title": title, "emoji": emoji} for t, title, emoji in TOPICS]
    _dump(folder / "sources.yaml", {"sources": sources})
    _dump(folder / "topics.yaml", {"topics": topics})
    for name in ("slang.yaml", "smalltalk.yaml"):
        shutil.copyfile(KNOWLEDGE_DIR / name, folder / name)
    for start in range(0, len(entries), ENTRIES_PER_FILE):
        chunk = entries[start : start + ENTRIES_PER_FILE]
        docs = [_entry_yaml(e, rng, len(sources)) for e in chunk]
        _dump(folder / f"entries-{start // ENTRIES_PER_FILE:03d}.yaml", {"entries": docs})
    return entries


def _dump(path: Path, data: dict) -> None:
    path.write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100), encoding="utf-8"
    )


# --- noise --------------------------------------------------------------------------------


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 5 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1 :]  # drop a letter
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swap two letters


def _stretch(rng: random.Random, word: str) -> str:
    if not word.isalpha():
        return word
    return word + word[-1] * rng.randint(2, 3)


def roughen(rng: random.Random, text: str) -> str:
    """Type it like a resident: slang, a typo, stretched letters, order, fillers, emoji."""
    words = text.split()
    words = [rng.choice(SLANG[w]) if w in SLANG and rng.random() < 0.6 else w for w in words]
    if rng.random() < 0.35:  # one typo in a longer word
        candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        if candidates:
            i = rng.choice(candidates)
            words[i] = _typo(rng, words[i])
    if rng.random() < 0.1:
        i = rng.randrange(len(words))
        words[i] = _stretch(rng, words[i])
    if rng.random() < 0.1 and len(words) > 2:  # move the first word to the end
        words = words[1:] + words[:1]
    if rng.random() < 0.2:
        words.insert(rng.randrange(len(words) + 1), rng.choice(FILLERS))
    out = " ".join(words)
    r = rng.random()
    if r < 0.15:
        out = out.capitalize()
    elif r < 0.2:
        out = out.upper()
    if rng.random() < 0.25:
        out += rng.choice(EMOJI)
    return out


def _about(rng: random.Random, subject: Subject, place: str, attrs, year: int) -> str:
    template = rng.choice(QUESTION_TEMPLATES)
    return template.format(
        s=rng.choice(subject.names), p=place.lower(), a=rng.choice(attrs).label, y=year
    )


def questions(
    entries: list[SynthEntry],
    missing: list[tuple[Subject, str]],
    n: int,
    seed: int = 2,
    *,
    near_miss: float = 0.15,
    out_of_scope: float = 0.15,
) -> list[Question]:
    """``n`` distinct labelled questions, shuffled (so any prefix is a fair sample)."""
    rng = random.Random(seed)
    out: list[Question] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n and attempts < n * 50:
        attempts += 1
        r = rng.random()
        if r < out_of_scope:
            template, fills = rng.choice(OUT_OF_SCOPE_TEMPLATES)
            question = Question(roughen(rng, template.format(x=rng.choice(fills))), "out_of_scope")
        elif r < out_of_scope + near_miss and missing:
            subject, place = rng.choice(missing)
            text = _about(rng, subject, place, subject.attributes, rng.choice(YEARS))
            question = Question(roughen(rng, text), "near_miss")
        else:
            e = rng.choice(entries)
            question = Question(
                roughen(rng, _about(rng, e.subject, e.place, e.attributes, e.year)),
                "in_scope",
                e.id,
            )
        if question.q not in seen:
            seen.add(question.q)
            out.append(question)
    return out


def synthetic_questions(n_entries: int, n: int, seed: int) -> list[Question]:
    entries, missing = catalogue(n_entries)
    return questions(entries, missing, n, seed)


def noisy_variants(texts: list[tuple[str, str | None]], n: int, seed: int) -> list[Question]:
    """Rough variants of labelled texts (``(text, entry id)``), e.g. the real aliases."""
    rng = random.Random(seed)
    out: list[Question] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n and attempts < n * 50 and texts:
        attempts += 1
        text, expect = rng.choice(texts)
        q = roughen(rng, text.lower())
        if q not in seen:
            seen.add(q)
            out.append(Question(q, "in_scope" if expect else "out_of_scope", expect))
    return out


def out_of_scope_questions(n: int, seed: int) -> list[Question]:
    rng = random.Random(seed)
    out: list[Question] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n and attempts < n * 50:
        attempts += 1
        template, fills = rng.choice(OUT_OF_SCOPE_TEMPLATES)
        q = roughen(rng, template.format(x=rng.choice(fills)))
        if q not in seen:
            seen.add(q)
            out.append(Question(q, "out_of_scope"))
    return out
