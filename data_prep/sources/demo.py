"""The embedded demo set: real medical images that ship inside PyPI packages, turned into questions whose
answers are true by construction (which technique made the image, which CT window, where the optic disc or
the vertebral body lies after a known rotation, which quadrant of a mosaic differs).

Every variant (crop, rotation, flip, window, mosaic) is a distinct image file; the builder splits them
image-disjointly like the real data sets. Variants of one source photograph still share its content:
the demo shows the pipeline and a learning curve, it is no benchmark.

Each question type lists the same options in the same order, so the gold letter follows from what the image
shows. With shuffled options the letter is an in-context lookup (find the line of the option meant, read its
letter) that the demo's tiny random-weight model does not learn in its budget: after SFT, teacher-forced with
its own training items' reasoning, it gave the gold letter probability 0.28 of 4 options (0.65 of 6 for the
technique question with its fixed list).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from data_prep.images import encode_png, stretch_to_uint8
from data_prep.records import Question, lettered
from data_prep.spool import spool

TILE = 112
CROPS_PER_SOURCE = 48  # with the fundus (48), CT (48) and MR (32) variants: technique gold letters stay balanced
MOSAICS = 128
SIDES = ("top", "left", "bottom", "right")  # counter-clockwise order: a 90 degree turn moves each to the next


@dataclass(frozen=True)
class Source:
    """A packaged image, what it shows and where it comes from."""

    name: str
    technique: str
    looks: str
    ability: str
    origin: str
    license: str
    load: Callable[[], np.ndarray]


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _dicom(name: str, window: tuple[float, float] | None) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import pydicom
        from pydicom.data import get_testdata_file

        dataset = pydicom.dcmread(get_testdata_file(name, download=False))
        values = dataset.pixel_array.astype(np.float64)
        values = values * float(getattr(dataset, "RescaleSlope", 1)) + float(getattr(dataset, "RescaleIntercept", 0))
        if window is None:
            return stretch_to_uint8(np.clip(values, *np.percentile(values, [1, 99])))
        level, width = window
        return stretch_to_uint8(np.clip(values, level - width / 2, level + width / 2))

    return load


CT_WINDOWS = {"bone window": (500.0, 2000.0), "soft-tissue window": (40.0, 400.0), "lung window": (-600.0, 1500.0)}
SOURCES = {
    "ihc": Source("ihc", "Immunohistochemistry (brightfield microscopy)",
                  "brown-stained glands over blue nuclei", "pathology",
                  "scikit-image skimage.data.immunohistochemistry() (ihc.png), Center for Microscopy And Molecular "
                  "Imaging (CMMI)", "no known copyright restrictions (scikit-image data README)",
                  _skimage("immunohistochemistry")),
    "fundus": Source("fundus", "Colour fundus photography",
                     "an orange retina with vessels converging on a bright disc",
                     "medical", "scikit-image skimage.data.retina() (retina.jpg), Wikimedia Commons "
                     "'Fundus photograph of normal left eye', Mikael Haggstrom", "CC0 1.0", _skimage("retina")),
    "redfree": Source("redfree", "Red-free fundus photography",
                      "a grey retina with dark vessels and dots", "medical",
                      "scikit-image skimage.data.microaneurysms(), crop of 07_dr.JPG of the High-Resolution Fundus "
                      "(HRF) Image Database (Budai et al. 2013)", "CC0 (given by owner Andreas Maier)",
                      _skimage("microaneurysms")),
    "phase": Source("phase", "Quantitative phase microscopy",
                    "one bright round cell on a grey background", "pathology",
                    "scikit-image skimage.data.cell() (cell.png), Mueller et al., Optics Express 2018", "CC0",
                    _skimage("cell")),
    "ct": Source("ct", "Computed tomography (CT)",
                 "a grey vertebra cross-section with white bone",
                 "medical", "pydicom test file CT_small.dcm (downsized from NEMA WG04 CT1_UNC)",
                 "MIT (pydicom; its README states no restriction on using the test files)",
                 _dicom("CT_small.dcm", CT_WINDOWS["soft-tissue window"])),
    "mr": Source("mr", "Magnetic resonance imaging (MRI)",
                 "a grey cross-section without white bone", "medical",
                 "pydicom test file MR_small.dcm", "MIT (pydicom; its README states no restriction on using the "
                 "test files)", _dicom("MR_small.dcm", None)),
}
TECHNIQUES = lettered([s.technique for s in SOURCES.values()])
QUADRANTS = ("top left", "top right", "bottom left", "bottom right")
WINDOWS = lettered(["Bone window", "Soft-tissue window", "Lung window", "Brain window"])  # CT_WINDOWS' order
SIDE_OPTIONS = lettered(["Top", "Left", "Bottom", "Right"])  # SIDES' order
_AT = {"top": "at the top", "bottom": "at the bottom", "left": "on the left", "right": "on the right"}


def _lower(text: str) -> str:
    """Sentence-internal form: "Colour fundus photography" -> "colour fundus photography" (acronyms kept)."""
    return text[0].lower() + text[1:] if text[:2] != text[:2].upper() else text


def move(side: str, turns: int, flip: bool) -> str:
    """Where `side` of an image ends up after `turns` counter-clockwise quarter turns, then a left-right flip."""
    moved = SIDES[(SIDES.index(side) + turns) % 4]
    return {"left": "right", "right": "left"}.get(moved, moved) if flip else moved


def transform(array: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    out = np.rot90(array, turns)
    return np.ascontiguousarray(out[:, ::-1] if flip else out)


def resized(array: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(array).resize((size, size), Image.Resampling.LANCZOS))


def crop(array: np.ndarray, rng: np.random.Generator, low: float, high: float, size: int) -> np.ndarray:
    """A random square crop whose side is a fraction in [low, high] of the shorter side, resized to `size`."""
    side = int(min(array.shape[:2]) * rng.uniform(low, high))
    top = int(rng.integers(0, array.shape[0] - side + 1))
    left = int(rng.integers(0, array.shape[1] - side + 1))
    return resized(array[top:top + side, left:left + side], size)


class DemoFactory:
    """Generates the demo's images and questions, deterministically from a seed."""

    def __init__(self, out_dir: Path, seed: int):
        self.out_dir = out_dir
        self.rng = np.random.default_rng(seed)
        self.base = {name: source.load() for name, source in SOURCES.items()}
        self.count = 0

    def _question(self, source: Source, array: np.ndarray, variant: str, category: str, question: str,
                  options: tuple[str, ...], gold: str, reasoning: str, answer_type: str = "mcq") -> Question:
        path = spool(encode_png(Image.fromarray(array)), self.out_dir)
        self.count += 1
        return Question(
            data_source="demo", ability=source.ability, original_id=f"demo-{self.count:04d}", category=category,
            question=question, answer_type=answer_type, answer=gold, options=options, image_file=path,
            image_name=f"demo/{variant}.png", reasoning=reasoning, dataset=source.name, modality=source.technique,
            where=f"demo item {self.count} ({variant})",
        )

    def technique(self, source: Source, array: np.ndarray, variant: str) -> Question:
        gold = TECHNIQUES[list(SOURCES).index(source.name)]
        others = [option for option in TECHNIQUES if option != gold]
        first, second = (_lower(others[i][3:]) for i in self.rng.choice(len(others), size=2, replace=False))
        # The gold technique comes last, right before the answer that names its letter.
        return self._question(source, array, variant, "technique", "Which imaging technique produced this image?",
                              TECHNIQUES, gold, f"The image shows {source.looks}, which rules out {first} and "
                              f"{second}: this is {_lower(gold[3:])}.")

    def yes_no(self, source: Source, array: np.ndarray, variant: str) -> Question:
        others = [n for n in SOURCES if n != source.name]
        asked = source if self.rng.random() < 0.5 else SOURCES[str(self.rng.choice(others))]
        answer = "yes" if asked is source else "no"
        return self._question(source, array, variant, "yesno", f"Was this image acquired with this technique: "
                              f"{_lower(asked.technique)}?", (), answer, f"The image shows {source.looks}, which is "
                              f"{_lower(source.technique)}; so the answer is {answer}.", answer_type="yesno")

    def items(self) -> Iterator[Question]:
        yield from self._crops()
        yield from self._fundus()
        yield from self._ct()
        yield from self._mr()
        yield from self._mosaics()

    def _crops(self) -> Iterator[Question]:
        """Rotated, mirrored crops of the IHC, red-free and phase images: technique, and yes/no for half."""
        for name, low, high, sizes in (("ihc", 0.3, 0.6, [160, 192, 224]), ("redfree", 0.7, 1.0, [112, 160, 224]),
                                       ("phase", 0.4, 1.0, [112, 160, 224])):
            source = SOURCES[name]
            for i in range(CROPS_PER_SOURCE):
                array = transform(crop(self.base[name], self.rng, low, high, int(self.rng.choice(sizes))),
                                  int(self.rng.integers(4)), bool(self.rng.integers(2)))
                variant = f"{name}-{i:03d}"
                yield self.technique(source, array, variant)
                if i % 2:
                    yield self.yes_no(source, array, variant)

    def _fundus(self) -> Iterator[Question]:
        source = SOURCES["fundus"]
        full = self.base["fundus"]
        for i, (turns, flip, size) in enumerate((t, f, s) for t in range(4) for f in (False, True)
                                                for s in (160, 192, 224)):
            array = transform(resized(full, size), turns, flip)
            side = move("left", turns, flip)
            gold = SIDE_OPTIONS[SIDES.index(side)]
            variant = f"fundus-{i:03d}"
            yield self.technique(source, array, variant)
            yield self._question(source, array, variant, "optic_disc", "Where is the optic disc in this fundus "
                                 "photograph?", SIDE_OPTIONS, gold, f"The vessels converge on a bright yellowish round "
                                 f"spot near the {side} edge of the retina: the optic disc is {_AT[side]}.")
            if i % 2:
                yield self.yes_no(source, array, variant)
        for i in range(24):
            array = transform(crop(full, self.rng, 0.25, 0.5, int(self.rng.choice([160, 192, 224]))),
                              int(self.rng.integers(4)), bool(self.rng.integers(2)))
            yield self.technique(source, array, f"fundus-crop-{i:03d}")

    def _ct(self) -> Iterator[Question]:
        source = SOURCES["ct"]
        windows = {name: _dicom("CT_small.dcm", window)() for name, window in CT_WINDOWS.items()}
        variants = [(w, t, f) for w in CT_WINDOWS for t in range(4) for f in (False, True)]
        for i, (window, turns, flip) in enumerate(variants):
            array = transform(resized(windows[window], int(self.rng.choice([128, 192, 224]))), turns, flip)
            side = move("top", turns, flip)
            variant = f"ct-{i:03d}"
            yield self.technique(source, array, variant)
            yield self._question(source, array, variant, "orientation", "This axial CT image of a vertebra may be "
                                 "rotated or mirrored. On which side of the image is the vertebral body (the front "
                                 "of the spine)?", SIDE_OPTIONS, SIDE_OPTIONS[SIDES.index(side)],
                                 f"The round vertebral body lies {_AT[side]}, the spinal canal next to it and the "
                                 f"posterior arch with the back muscles beyond it, so the front of the spine faces "
                                 f"{_AT[side][3:]}.")
            gold = WINDOWS[list(CT_WINDOWS).index(window)]
            yield self._question(source, array, variant, "ct_window", "Which display window is applied to this CT "
                                 "image?", WINDOWS, gold, _WINDOW_REASONS[window] + f" This is the {window}.")
        for i in range(24):
            windowed = windows[str(self.rng.choice(list(CT_WINDOWS)))]
            array = transform(crop(windowed, self.rng, 0.6, 0.9, int(self.rng.choice([128, 192, 224]))),
                              int(self.rng.integers(4)), bool(self.rng.integers(2)))
            yield self.technique(source, array, f"ct-crop-{i:03d}")

    def _mr(self) -> Iterator[Question]:
        source = SOURCES["mr"]
        for i, (turns, flip, size) in enumerate((t, f, s) for t in range(4) for f in (False, True)
                                                for s in (128, 160, 192, 224)):
            array = transform(resized(self.base["mr"], size), turns, flip)
            variant = f"mr-{i:03d}"
            yield self.technique(source, array, variant)
            if i % 2:
                yield self.yes_no(source, array, variant)

    def _tile(self, name: str) -> np.ndarray:
        # The cell is small in its photograph: phase tiles keep most of the frame so it stays visible.
        tile = crop(self.base[name], self.rng, 0.8 if name == "phase" else 0.3, 1.0 if name == "phase" else 0.9, TILE)
        return np.stack([tile] * 3, axis=-1) if tile.ndim == 2 else tile

    def _mosaics(self) -> Iterator[Question]:
        names = ("ihc", "fundus", "redfree", "phase", "ct")
        options = lettered([q[0].upper() + q[1:] for q in QUADRANTS])
        for i in range(MOSAICS):
            common, odd = self.rng.choice(names, size=2, replace=False)
            position = int(self.rng.integers(4))
            tiles = [self._tile(odd if k == position else common) for k in range(4)]
            array = np.concatenate([np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0)
            yield self._question(SOURCES[odd], array, f"mosaic-{i:03d}", "odd_quadrant", "Three quadrants of this "
                                 "mosaic show the same kind of image. Which quadrant shows a different kind?",
                                 options, options[position], f"Three quadrants show {SOURCES[common].looks} and one "
                                 f"shows {SOURCES[odd].looks}: the {QUADRANTS[position]} quadrant.")


_WINDOW_REASONS = {
    "bone window": "Bone shows internal detail while muscle and fat are nearly the same grey.",
    "soft-tissue window": "Muscle and fat are separated in grey levels while all bone is saturated white.",
    "lung window": "Lung tissue and air show vessel detail, while muscle and bone are almost uniformly bright.",
}


def read_demo(out_dir: Path, seed: int) -> Iterator[Question]:
    """Every demo question (images are written to OUT/images/ as they are generated)."""
    yield from DemoFactory(out_dir, seed).items()


def image_sources() -> list[dict[str, str]]:
    """Provenance of every packaged image the demo uses (recorded in the manifest)."""
    return [{"name": s.name, "technique": s.technique, "source": s.origin, "license": s.license}
            for s in SOURCES.values()]
