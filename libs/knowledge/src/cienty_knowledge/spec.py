"""The KnowledgeSource custom resource's `spec`, as the operator passes it to the worker (JSON).

Field names are camelCase on the wire (`maxTokens`) and snake_case in Python. Unknown fields
are refused, so a typo (`exlude`) is an error instead of a silently ignored setting.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

SourceKind = Literal["http", "s3", "git", "configMap", "directory", "inline"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("http", "s3", "git", "configMap", "directory", "inline")


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class HttpSource(_Model):
    urls: list[AnyHttpUrl] = Field(min_length=1)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)


class S3Source(_Model):
    bucket: str = Field(min_length=1)
    prefix: str = ""
    region: str | None = None
    endpoint_url: AnyHttpUrl | None = None


class GitSource(_Model):
    repository: str = Field(min_length=1)
    ref: str = "main"
    path: str = ""


class ConfigMapSource(_Model):
    name: str = Field(min_length=1)


class DirectorySource(_Model):
    # One directory (or file); the command line may pass several.
    path: str | list[str]

    @property
    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @model_validator(mode="after")
    def _not_empty(self) -> DirectorySource:
        if not self.paths or not all(p.strip() for p in self.paths):
            raise ValueError("directory.path must name at least one path")
        return self


class InlineDocument(_Model):
    name: str = Field(min_length=1)
    content: str
    format: Literal["markdown", "html", "text"] | None = None  # None: from the name, else text


class InlineSource(_Model):
    documents: list[InlineDocument] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> InlineSource:
        names = [document.name for document in self.documents]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"inline document names must be unique: {duplicates}")
        return self


class SourceSpec(_Model):
    http: HttpSource | None = None
    s3: S3Source | None = None
    git: GitSource | None = None
    config_map: ConfigMapSource | None = None
    directory: DirectorySource | None = None
    inline: InlineSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SourceSpec:
        chosen = [kind for kind in SOURCE_KINDS if self._get(kind) is not None]
        if len(chosen) != 1:
            raise ValueError(
                f"source must have exactly one of {', '.join(SOURCE_KINDS)}; "
                f"got {', '.join(chosen) or 'none'}"
            )
        return self

    def _get(self, kind: SourceKind) -> _Model | None:
        value: _Model | None = getattr(self, "config_map" if kind == "configMap" else kind)
        return value

    @property
    def kind(self) -> SourceKind:
        return next(kind for kind in SOURCE_KINDS if self._get(kind) is not None)

    @property
    def selected(self) -> Any:
        """The chosen kind's settings (an HttpSource, a DirectorySource, ...)."""
        return self._get(self.kind)


class ChunkingSpec(_Model):
    max_tokens: int = Field(default=200, ge=16, le=8192)
    overlap_tokens: int = Field(default=40, ge=0)

    @model_validator(mode="after")
    def _overlap_below_max(self) -> ChunkingSpec:
        # As the CRD says; the chunker uses at most half of maxTokens for the overlap.
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError("chunking.overlapTokens must be below maxTokens")
        return self


class EmbeddingSpec(_Model):
    model: str | None = None
    endpoint: AnyHttpUrl | None = None  # overrides CIENTY_EMBEDDING_URL


class KnowledgeSourceSpec(_Model):
    source: SourceSpec
    include: list[str] = Field(default_factory=list)  # empty: every loadable document
    exclude: list[str] = Field(default_factory=list)
    schedule: str | None = None  # cron; the operator's business
    chunking: ChunkingSpec = Field(default_factory=ChunkingSpec)
    embedding: EmbeddingSpec = Field(default_factory=EmbeddingSpec)
    collection: str = Field(default="cienty_knowledge", pattern=r"^[a-z][a-z0-9_]{0,47}$")
    language: str = Field(default="pt", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")

    @classmethod
    def from_json(cls, text: str) -> KnowledgeSourceSpec:
        return cls.model_validate_json(text)

    def to_wire(self) -> dict[str, Any]:
        """The camelCase form, as in the custom resource."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
