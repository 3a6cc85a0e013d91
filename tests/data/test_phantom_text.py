from synthbench.data.phantoms._text import asserted, clauses, first_size_mm, modality_prefix


def test_clauses_split_on_full_stops_not_decimals():
    assert clauses("Nodule 1.4 cm in the RUL. No effusion; CTR 0.56.") == [
        "Nodule 1.4 cm in the RUL",
        "No effusion",
        "CTR 0.56",
    ]


def test_negation_is_scoped_to_its_clause():
    text = "OCT: No drusen. Intraretinal cysts are present."
    assert not asserted(text, r"drusen")
    assert asserted(text, r"cysts?")
    assert asserted("CT: no effusion, but a nodule in the left lobe.", r"nodule")
    assert not asserted("CT: negative for nodule.", r"nodule")


def test_sizes_and_prefix():
    assert first_size_mm("Brain MRI: mass measuring 2.3 cm.") == 23.0
    assert first_size_mm("OCT: 450 mm? no, 12 mm drusen") == 450.0
    assert first_size_mm("no size here") is None
    assert modality_prefix("Chest X-ray: clear lungs.") == "Chest X-ray"
    assert modality_prefix("no prefix here") is None


def test_negation_after_the_finding_and_after_a_colon():
    assert not asserted("OCT: Subretinal fluid has resolved.", r"subretinal fluid")
    assert not asserted("OCT: Intraretinal cysts are absent.", r"cysts?")
    assert not asserted("Chest CT: Nodules: none.", r"nodules?")
    assert not asserted("Brain MRI: a mass is not seen.", r"mass")
    assert asserted("Fundus: hard exudates present; no haemorrhage.", r"exudates")
    assert asserted("Chest X-ray: nodule in the left upper zone.", r"nodule")
