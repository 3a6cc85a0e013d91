import pytest

from synthbench.data.phantom_source import PhantomOptions, PhantomSource
from synthbench.data.source import DataSpec
from synthbench.errors import DataError


def test_string_and_table_forms_agree():
    a = DataSpec.parse("phantom:oct,fundus?size=64&n=400")
    b = DataSpec.parse({"source": "phantom", "name": "oct,fundus", "n": "400", "size": "64"})
    assert a == b
    assert str(a) == "phantom:oct,fundus?n=400&size=64"
    assert DataSpec.parse(str(a)) == a


def test_paths_with_colons_keep_the_name_whole():
    spec = DataSpec.parse("imagefolder:/data/x:y/images?size=32")
    assert spec.source == "imagefolder" and spec.name == "/data/x:y/images"


def test_options_are_typed_and_validated():
    opts = PhantomSource().options(
        DataSpec.parse("phantom:oct?n=50&difficulty=0.2&split=0.8,0.1,0.1")
    )
    assert isinstance(opts, PhantomOptions)
    assert opts.n == 50 and opts.difficulty == 0.2 and opts.split == (0.8, 0.1, 0.1)
    with pytest.raises(DataError, match=r"option 'difficulty'.*less than or equal to 1"):
        PhantomSource().options(DataSpec.parse("phantom:oct?difficulty=3"))
    with pytest.raises(
        DataError, match="valid options: split_seed, split, n, size, difficulty, seed"
    ):
        PhantomSource().options(DataSpec.parse("phantom:oct?sze=3"))


@pytest.mark.parametrize(
    "bad",
    ["", "phantom", ":oct", "phantom:", {"source": "phantom"}, {"name": "oct"}, "phantom:oct?n"],
)
def test_malformed_specs(bad):
    with pytest.raises(DataError):
        DataSpec.parse(bad)
