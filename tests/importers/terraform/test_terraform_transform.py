"""Transform of real Terraform states (tests/data/terraform, see SOURCE.md) into graph items."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from graphsvc.ingest.importer import ImporterOptions, ImportResult
from graphsvc.model.batch import EntityItem, IngestBatch
from graphsvc.model.validation import validate_batch
from graphsvc.model.vocabulary import EntityKind, RelationType
from importers.terraform import TerraformImporter

DATA = Path(__file__).parents[2] / "data" / "terraform"
SAMPLES = (
    "inframap-aws_state_cyclic.json",
    "inframap-repeated_modules.json",
    "inframap-azure.tfstate",
    "tfstate-lookup-terraform.tfstate",
    "web-stack.tfstate",
    "cycle.tfstate",
)


def transform(*paths: Path, scope: str = "prod") -> ImportResult:
    importer = TerraformImporter()
    options = ImporterOptions(scope=scope)
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def sample(name: str, scope: str = "prod") -> ImportResult:
    return transform(DATA / name, scope=scope)


def by_key(result: ImportResult) -> dict[str, EntityItem]:
    return {e.key: e for e in result.entities}


def triples(result: ImportResult) -> set[tuple[str, str, str]]:
    return {(r.type.value, r.from_.key or "", r.to.key or "") for r in result.relations}


def test_cyclic_sample_entities() -> None:
    result = sample("inframap-aws_state_cyclic.json")
    entities = by_key(result)
    assert len(entities) == 19
    assert {e.kind for e in result.entities} == {EntityKind.CONFIGURATION_ITEM}
    bastion = entities["aws_instance/i-00eab1355727cfb44"]
    assert bastion.name == "i-00eab1355727cfb44"
    assert bastion.identifiers == {"cloudResourceId": "i-00eab1355727cfb44"}
    assert bastion.attributes == {
        "ciClass": "aws_instance",
        "provider": "aws",
        "tainted": None,
        "terraformAddress": "aws_instance.bastion0",
    }
    # sgrule-… is Terraform's own synthetic id, not a cloud id: keyed by scope and address.
    rule = entities["terraform/prod/aws_security_group_rule.sgrule-1657157303"]
    assert rule.identifiers == {}
    assert rule.attributes["ciClass"] == "aws_security_group_rule"
    assert result.warnings == ()


def test_cyclic_sample_relations() -> None:
    result = sample("inframap-aws_state_cyclic.json")
    found = triples(result)
    assert len(result.relations) == 23
    assert {r.type for r in result.relations} == {RelationType.DEPENDS_ON}
    # instances[].dependencies
    assert (
        "DEPENDS_ON",
        "aws_instance/i-00eab1355727cfb44",
        "aws_security_group/sg-0bf6977585401273d",
    ) in found
    rule = "terraform/prod/aws_security_group_rule.sgrule-1657157303"
    assert ("DEPENDS_ON", rule, "aws_security_group/sg-093aebd858af57fa8") in found
    assert ("DEPENDS_ON", rule, "aws_security_group/sg-012afeabb7f063269") in found
    # implicit: the ingress rule of one group names another imported group
    implicit = {
        (r.from_.key, r.to.key): r.attributes["inferredFrom"]
        for r in result.relations
        if r.attributes["inferredFrom"]
    }
    sg_093 = "aws_security_group/sg-093aebd858af57fa8"
    assert implicit == {
        ("aws_security_group/sg-012afeabb7f063269", sg_093): "ingress",
        ("aws_security_group/sg-024718a65a57ab65c", sg_093): "ingress",
        ("aws_security_group/sg-0bf6977585401273d", sg_093): "ingress",
    }
    # recorded dependencies clear an inferredFrom an earlier import may have set
    rule = next(r for r in result.relations if r.from_.key and "sgrule" in r.from_.key)
    assert rule.attributes == {"inferredFrom": None}


def test_nested_modules_and_module_instances() -> None:
    result = sample("inframap-repeated_modules.json")
    entities = by_key(result)
    assert len(entities) == 16
    assert entities["aws_instance/i-01cde81471bc7715c"].attributes["terraformAddress"] == (
        "module.ec2_ubuntu_a[0].aws_instance.this[0]"
    )
    assert entities["aws_instance/i-0a21b3e118e0ba2ef"].attributes["terraformAddress"] == (
        "module.ec2_openvpn.module.ec2_bastion.aws_instance.this[0]"
    )
    assert entities["aws_instance/i-0a21b3e118e0ba2ef"].attributes["provider"] == "aws"
    found = triples(result)
    # a dependency names a nested module's resource
    assert (
        "DEPENDS_ON",
        "aws_instance/i-0a21b3e118e0ba2ef",
        "aws_security_group/sg-0004cc061bc236c1c",
    ) in found
    # a resource inside module instance ec2_ubuntu_a[1] depends on module.all_sg's group
    assert (
        "DEPENDS_ON",
        "aws_instance/i-0bbdaaaca5cf61ef5",
        "aws_security_group/sg-0987114dd4c1ff786",
    ) in found
    assert (
        "DEPENDS_ON",
        "terraform/prod/module.all_sg.aws_security_group_rule.egress_rules[0]",
        "aws_security_group/sg-0987114dd4c1ff786",
    ) in found
    assert len(result.relations) == 13
    # the sample omits module.vpc's VPC and subnets: reported, not fatal
    messages = [w.message for w in result.warnings]
    assert (
        "module.ec2_redhat_a.aws_instance.this[0] depends on module.vpc.aws_subnet.private, "
        "which is not in the state"
    ) in messages
    assert all(w.path.endswith("inframap-repeated_modules.json") for w in result.warnings)
    assert all(w.element.startswith("resources[") for w in result.warnings)


def test_data_resources_for_each_count_and_arn_keys() -> None:
    result = sample("tfstate-lookup-terraform.tfstate")
    entities = by_key(result)
    # 12 resources: 3 data resources skipped, an aws_vpc with no instances, for_each and count expanded
    assert len(entities) == 11
    assert not any("caller_identity" in k or "remote_state" in k for k in entities)
    assert not any(e.attributes["ciClass"] == "aws_lb_target_group" for e in result.entities)
    user = entities["aws_iam_user/arn:aws:iam::xxxxxxxxxxxx:user/foo.bar"]
    assert user.name == "foo.bar"
    assert user.attributes["terraformAddress"] == 'aws_iam_user.users["foo.bar"]'
    assert user.identifiers == {"awsArn": "arn:aws:iam::xxxxxxxxxxxx:user/foo.bar"}
    assert "accountId" not in user.attributes  # a placeholder account is not an account id
    subnet = entities["aws_subnet/subnet-90123456789012345"]
    assert subnet.attributes == {
        "accountId": "123456789012",
        "availabilityZone": "ap-northeast-1a",
        "ciClass": "aws_subnet",
        "cidrBlock": "10.11.15.0/22",
        "provider": "aws",
        "region": "ap-northeast-1",
        "tainted": None,
        "terraformAddress": "module.subnets.aws_subnet.main[1]",
    }
    assert subnet.identifiers == {
        "awsArn": "arn:aws:ec2:ap-northeast-1:123456789012:subnet/subnet-90123456789012345",
        "cloudResourceId": "subnet-90123456789012345",
    }
    # no cloud id and no ARN: keyed by scope and address (count index kept)
    attachment = entities["terraform/prod/aws_iam_role_policy_attachment.ec2[1]"]
    assert attachment.name == "aws_iam_role_policy_attachment.ec2[1]"
    # the certificate's id and arn differ in this sample: id keys it, arn identifies it
    cert = entities[
        "aws_acm_certificate/arn:aws:acm:ap-northeast-1:123456789012:certificate/"
        "8f10da5e-d173-4891-a9d3-1309fa6ff4f4"
    ]
    assert cert.identifiers == {
        "awsArn": "arn:aws:acm:ap-northeast-1:123456789012:certificate/"
        "4986a36e-7027-4265-864b-1fe32f96d774"
    }
    assert cert.attributes["tags"] == {"env": "world"}
    assert cert.attributes["environment"] == "world"
    assert result.relations == ()


def test_azure_resource_ids() -> None:
    result = sample("inframap-azure.tfstate")
    vm_id = (
        "/subscriptions/508f906f-b287-4882-b038-c653fe001aa0/resourceGroups/myResourceGroup"
        "/providers/Microsoft.Compute/virtualMachines/myVM"
    )
    vnets = (
        "/subscriptions/508f906f-b287-4882-b038-c653fe001aa0/resourceGroups/myResourceGroup"
        "/providers/Microsoft.Network/virtualNetworks/"
    )
    vm = by_key(result)[f"azurerm_linux_virtual_machine/{vm_id}"]
    assert vm.name == "myVM"
    assert vm.identifiers == {"cloudResourceId": vm_id}
    assert vm.attributes["provider"] == "azurerm"
    peering = next(
        e for e in result.entities if e.attributes["ciClass"] == "azurerm_virtual_network_peering"
    )
    edges = [r for r in result.relations if r.from_.key == peering.key]
    # remote_virtual_network_id is covered by the recorded dependency: no inferredFrom
    assert {(r.to.key, r.attributes["inferredFrom"]) for r in edges} == {
        (f"azurerm_virtual_network/{vnets}myVnet", None),
        (f"azurerm_virtual_network/{vnets}myVnet2", None),
    }
    assert len(result.relations) == 4
    # dependencies on resources the sample leaves out (resource group, NIC, …)
    assert len(result.warnings) == 15


def test_crafted_state_identifiers_attributes_and_no_secrets() -> None:
    result = sample("web-stack.tfstate")
    entities = by_key(result)
    assert len(entities) == 10  # data.aws_ami and the deposed object are skipped
    web_a = entities["aws_instance/i-0ccccccccccccccc1"]
    assert web_a.name == "web-a"
    assert web_a.identifiers == {
        "awsArn": "arn:aws:ec2:eu-west-1:111122223333:instance/i-0ccccccccccccccc1",
        "cloudResourceId": "i-0ccccccccccccccc1",
        "fqdn": "ip-10-0-1-10.eu-west-1.compute.internal",
        "ipAddress": "10.0.1.10",
    }
    assert web_a.attributes == {
        "accountId": "111122223333",
        "availabilityZone": "eu-west-1a",
        "ciClass": "aws_instance",
        "environment": "prod",
        "imageId": "ami-0123456789abcdef0",
        "instanceType": "t3.small",
        "provider": "aws",
        "region": "eu-west-1",
        "tags": {"Name": "web-a", "env": "prod"},
        "tainted": None,
        "terraformAddress": 'module.app.aws_instance.web["a"]',
    }
    assert entities["aws_instance/i-0ccccccccccccccc2"].attributes["tainted"] is True
    db = entities["aws_db_instance/arn:aws:rds:eu-west-1:111122223333:db:app-db"]
    assert db.name == "app-db"
    assert db.identifiers == {
        "awsArn": "arn:aws:rds:eu-west-1:111122223333:db:app-db",
        "cloudResourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "fqdn": "app-db.cabcdefghijk.eu-west-1.rds.amazonaws.com",
    }
    assert db.attributes["engineVersion"] == "15.4"
    assert db.attributes["port"] == 5432
    assert db.attributes["multiAz"] is False
    lb = next(e for e in result.entities if e.attributes["ciClass"] == "aws_lb")
    assert lb.identifiers["fqdn"] == "web-1234567890.eu-west-1.elb.amazonaws.com"
    assert lb.attributes["scheme"] == "internet-facing"
    vpc = entities["aws_vpc/vpc-0a1b2c3d4e5f60718"]
    assert vpc.attributes["tags"] == {"Environment": "prod", "Name": "main", "Owner": "platform"}
    assert "terraform/prod/tls_private_key.deploy" in entities
    dumped = json.dumps([e.model_dump(mode="json") for e in result.entities])
    assert "s3cr3t" not in dumped
    assert "PRIVATE KEY" not in dumped
    assert "c2VjcmV0" not in dumped
    assert [w.element for w in result.warnings] == ["resources[5].instances[1]"]
    assert "deposed" in result.warnings[0].message


def test_crafted_state_relations() -> None:
    result = sample("web-stack.tfstate")
    lb = "aws_lb/arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/web/50dc6c495c0c9188"
    db = "aws_db_instance/arn:aws:rds:eu-west-1:111122223333:db:app-db"
    vpc, sg_web, sg_db = (
        "aws_vpc/vpc-0a1b2c3d4e5f60718",
        "aws_security_group/sg-0bbbbbbbbbbbbbbb1",
        "aws_security_group/sg-0bbbbbbbbbbbbbbb2",
    )
    sub1, sub2 = "aws_subnet/subnet-0aaaaaaaaaaaaaaa1", "aws_subnet/subnet-0aaaaaaaaaaaaaaa2"
    web_a, web_b = "aws_instance/i-0ccccccccccccccc1", "aws_instance/i-0ccccccccccccccc2"
    edges = {(r.from_.key, r.to.key): r.attributes["inferredFrom"] for r in result.relations}
    assert edges == {
        (sub1, vpc): None,
        (sub2, vpc): None,
        (sg_web, vpc): None,
        # the dependency names aws_subnet.private; subnet_id narrows it to the one used
        (web_a, sub1): None,
        (web_a, sg_web): None,
        (web_b, sub2): None,
        (web_b, sg_web): None,
        # the load balancer names both subnets
        (lb, sub1): None,
        (lb, sub2): None,
        (lb, sg_web): "security_groups",
        (db, sg_db): "vpc_security_group_ids",
        (sg_db, vpc): "vpc_id",
        (sg_db, sg_web): "ingress",
    }
    # default_security_group_id on the VPC is a back-reference, not a dependency
    assert (vpc, sg_db) not in edges
    # no dependency on the data source
    assert all("aws_ami" not in r.to.key for r in result.relations if r.to.key)


def test_dependency_cycle_is_kept() -> None:
    result = sample("cycle.tfstate")
    assert triples(result) == {
        (
            "DEPENDS_ON",
            "aws_security_group/sg-0c0c0c0c0c0c0c0c1",
            "aws_security_group/sg-0c0c0c0c0c0c0c0c2",
        ),
        (
            "DEPENDS_ON",
            "aws_security_group/sg-0c0c0c0c0c0c0c0c2",
            "aws_security_group/sg-0c0c0c0c0c0c0c0c1",
        ),
    }


@pytest.mark.parametrize("name", SAMPLES)
def test_batches_pass_validation(name: str) -> None:
    result = sample(name)
    batch = IngestBatch(
        source="terraform", entities=list(result.entities), relations=list(result.relations)
    )
    assert validate_batch(batch) == []


@pytest.mark.parametrize("name", SAMPLES)
def test_output_is_sorted_and_deterministic(name: str) -> None:
    first, second = sample(name), sample(name)
    assert first == second
    keys = [e.key for e in first.entities]
    assert keys == sorted(keys)
    pairs = [(r.from_.key or "", r.to.key or "") for r in first.relations]
    assert len(pairs) == len(set(pairs))


def test_several_states_in_one_run_do_not_depend_on_path_order() -> None:
    a, b = DATA / "web-stack.tfstate", DATA / "inframap-aws_state_cyclic.json"
    assert transform(a, b) == transform(b, a)
    assert len(transform(a, b).entities) == 29


def test_address_keys_carry_the_scope() -> None:
    result = sample("web-stack.tfstate", scope="team-a/prod")
    assert "terraform/team-a/prod/tls_private_key.deploy" in by_key(result)
    # cloud-id keys do not depend on the scope
    assert "aws_vpc/vpc-0a1b2c3d4e5f60718" in by_key(result)


def test_shared_identifier_values_are_not_used(tmp_path: Path) -> None:
    state = json.loads((DATA / "web-stack.tfstate").read_text())
    web = next(r for r in state["resources"] if r["type"] == "aws_instance")
    # a second instance elsewhere that reuses web["a"]'s private IP and DNS name
    clone = json.loads(json.dumps(web["instances"][0]))
    clone["index_key"] = "c"
    clone["attributes"]["id"] = "i-0ccccccccccccccc3"
    clone["attributes"]["arn"] = "arn:aws:ec2:eu-west-1:111122223333:instance/i-0ccccccccccccccc3"
    web["instances"].append(clone)
    path = tmp_path / "shared-ip.tfstate"
    path.write_text(json.dumps(state))
    entities = by_key(transform(path))
    for key in ("aws_instance/i-0ccccccccccccccc1", "aws_instance/i-0ccccccccccccccc3"):
        assert "ipAddress" not in entities[key].identifiers
        assert "fqdn" not in entities[key].identifiers
        assert entities[key].identifiers["cloudResourceId"] == key.split("/")[1]
    warnings = [w for w in transform(path).warnings if "ipAddress=10.0.1.10" in w.message]
    assert len(warnings) == 2


def test_same_resource_twice_is_one_ci(tmp_path: Path) -> None:
    shutil.copy(DATA / "cycle.tfstate", tmp_path / "a.tfstate")
    shutil.copy(DATA / "cycle.tfstate", tmp_path / "b.tfstate")
    result = transform(tmp_path / "a.tfstate", tmp_path / "b.tfstate")
    assert len(result.entities) == 2
    assert len(result.relations) == 2
    assert len([w for w in result.warnings if "same resource" in w.message]) == 2
    assert all(w.path.endswith("b.tfstate") for w in result.warnings)
