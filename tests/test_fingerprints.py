from bricksmith.fingerprints import differences, fingerprint, material


def test_private_upstream_outputs_do_not_change_the_fingerprint():
    one = material({"a": 1}, {"up": {"digest": "x", "_manifest": {"f": 1}}})
    two = material({"a": 1}, {"up": {"digest": "x", "_manifest": {"f": 2}}})
    three = material({"a": 1}, {"up": {"digest": "y"}})
    assert fingerprint(one) == fingerprint(two) != fingerprint(three)


def test_fingerprint_ignores_key_order():
    one, two = {"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"d": 3, "c": 2}, "a": 1}
    assert fingerprint(one) == fingerprint(two)


def test_differences_name_each_changed_leaf_old_to_new():
    old = {"params": {"train_fraction": 0.8, "seed": 3}, "gone": True}
    new = {"params": {"train_fraction": 0.7, "seed": 3}, "added": "x"}
    assert differences(old, new) == [
        "added: (none) → x",
        "gone: true → (none)",
        "params.train_fraction: 0.8 → 0.7",
    ]


def test_fingerprints_of_many_steps_equal_the_fingerprint_of_their_material():
    from bricksmith.fingerprints import Fingerprints

    outputs = {
        "project.scaffold": {"path": "/p", "_log": "x.log", "files": [1, 2]},
        "data.upload[0]": {"digest": "ab", "_manifest": {"a": {"size": 1}}, "n": 1.5},
        "git.push": {"commit": "é" * 3, "nested": {"b": 1, "a": [None, True]}},
    }
    read = []
    shared = Fingerprints(lambda key: read.append(key) or outputs[key])
    for inputs, upstream in [
        ({"source": "data", "workspace": {"root": "r", "target": "local"}}, ["project.scaffold"]),
        ({"params": {"x": 0.7}, "when": __import__("pathlib").Path("/x")}, list(outputs)),
        ({}, []),
        ({"z": 1, "a": 2}, ["git.push", "project.scaffold"]),
    ]:
        expected = fingerprint(material(inputs, {key: outputs[key] for key in upstream}))
        assert shared.of(inputs, upstream) == expected
    assert sorted(read) == sorted(outputs)  # each upstream step's outputs encoded once
