using Markdig;
using Markdig.Extensions.Tables;
using Md = Markdig.Syntax;
using MdInline = Markdig.Syntax.Inlines;

namespace RlGaf.Workbench.Services;

/// <summary>A piece of inline text: plain, `code` or **bold**.</summary>
public sealed record Inline(string Text, InlineKind Kind);

public enum InlineKind { Text, Code, Bold }

/// <summary>A block of a results.md: what the Experiments page draws.</summary>
public abstract record ResultsBlock;
public sealed record HeadingBlock(int Level, IReadOnlyList<Inline> Text) : ResultsBlock;
public sealed record ParagraphBlock(IReadOnlyList<Inline> Text) : ResultsBlock;
public sealed record TableBlock(IReadOnlyList<IReadOnlyList<Inline>> Header, IReadOnlyList<IReadOnlyList<IReadOnlyList<Inline>>> Rows) : ResultsBlock;
/// <summary>An image that names a file beside results.md (a plot); the page serves it from the experiment's folder.</summary>
public sealed record ImageBlock(string Alt, string File) : ResultsBlock;

/// <summary>
/// Reads a results.md with Markdig (CommonMark + pipe tables, raw HTML disabled) into blocks the page
/// renders with MudBlazor components: headings, paragraphs, lists, code, tables and plots. Nothing is
/// passed through as HTML: the page encodes every text, so a file cannot inject markup, and an image is
/// shown only when it names a plain file beside results.md (never a URL or a path elsewhere).
/// </summary>
public static class ResultsMarkdown
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UsePipeTables().DisableHtml().Build();

    public static IReadOnlyList<ResultsBlock> Parse(string markdown)
    {
        var blocks = new List<ResultsBlock>();
        foreach (var block in Markdown.Parse(markdown, Pipeline)) Add(block, blocks, prefix: null);
        return blocks;
    }

    private static void Add(Md.Block block, List<ResultsBlock> blocks, string? prefix)
    {
        switch (block)
        {
            case Md.HeadingBlock h:
                blocks.Add(new HeadingBlock(h.Level, Inlines(h.Inline)));
                break;
            case Table t:
                var rows = t.OfType<TableRow>().ToList();
                var header = rows.FirstOrDefault(r => r.IsHeader);
                blocks.Add(new TableBlock(header is null ? [] : Cells(header),
                    rows.Where(r => !r.IsHeader).Select(r => (IReadOnlyList<IReadOnlyList<Inline>>)Cells(r)).ToList()));
                break;
            case Md.ParagraphBlock p when prefix is null && Images(p) is { } images:
                blocks.AddRange(images);
                break;
            case Md.ParagraphBlock p:
                var text = Inlines(p.Inline);
                blocks.Add(new ParagraphBlock(prefix is null ? text : [new Inline(prefix, InlineKind.Text), .. text]));
                prefix = null;
                break;
            case Md.CodeBlock code: // fenced or indented: one code span per line block
                blocks.Add(new ParagraphBlock([new Inline(code.Lines.ToString(), InlineKind.Code)]));
                break;
            case Md.ListBlock list:
                int n = list.IsOrdered && int.TryParse(list.OrderedStart, out var first) ? first : 1;
                foreach (var item in list.OfType<Md.ListItemBlock>())
                {
                    string marker = list.IsOrdered ? $"{n++}. " : "• ";
                    foreach (var child in item) { Add(child, blocks, marker); marker = "   "; }
                }
                break;
            case Md.ContainerBlock container: // quotes and the like: their content
                foreach (var child in container) Add(child, blocks, prefix);
                break;
        }
    }

    private static List<IReadOnlyList<Inline>> Cells(TableRow row) =>
        row.OfType<TableCell>().Select(c => (IReadOnlyList<Inline>)c.OfType<Md.ParagraphBlock>().SelectMany(p => Inlines(p.Inline)).ToList()).ToList();

    /// <summary>A paragraph of images only (one per line, as SuiteReport writes them), each naming a plain file beside results.md; null otherwise.</summary>
    private static List<ImageBlock>? Images(Md.ParagraphBlock p)
    {
        var parts = p.Inline?.Where(i => i is not MdInline.LineBreakInline).ToList() ?? [];
        if (parts.Count == 0 || !parts.All(i => i is MdInline.LinkInline { IsImage: true } link && IsLocalFile(link.Url))) return null;
        return parts.Cast<MdInline.LinkInline>().Select(link => new ImageBlock(Plain(link), link.Url!.Trim())).ToList();
    }

    /// <summary>Only a file of the experiment: a URL or a path elsewhere is shown as text, never fetched.</summary>
    private static bool IsLocalFile(string? url) =>
        url?.Trim() is { Length: > 0 } target && target.IndexOfAny(['/', '\\', ':', '?', '#', ' ']) < 0 && !target.StartsWith('.');

    /// <summary>Inline text as plain, `code` and **bold** spans (other emphasis reads as plain text; links as their text).</summary>
    public static IReadOnlyList<Inline> Inlines(string text) =>
        Markdown.Parse(text, Pipeline).OfType<Md.ParagraphBlock>().SelectMany(p => Inlines(p.Inline)).ToList();

    private static IReadOnlyList<Inline> Inlines(MdInline.ContainerInline? container)
    {
        var result = new List<Inline>();
        var plain = new System.Text.StringBuilder();
        void Emit(string t, InlineKind kind)
        {
            if (plain.Length > 0) { result.Add(new Inline(plain.ToString(), InlineKind.Text)); plain.Clear(); }
            result.Add(new Inline(t, kind));
        }
        void Walk(MdInline.Inline inline)
        {
            switch (inline)
            {
                case MdInline.CodeInline code: Emit(code.Content, InlineKind.Code); break;
                case MdInline.EmphasisInline { DelimiterCount: 2 } strong: Emit(Plain(strong), InlineKind.Bold); break;
                case MdInline.LinkInline { IsImage: true } image: plain.Append($"![{Plain(image)}]({image.Url})"); break; // an image elsewhere: its text
                case MdInline.LineBreakInline: plain.Append(' '); break; // lines of a paragraph join with a space
                case MdInline.LiteralInline literal: plain.Append(literal.Content.ToString()); break;
                case MdInline.HtmlEntityInline entity: plain.Append(entity.Transcoded.ToString()); break;
                case MdInline.AutolinkInline auto: plain.Append(auto.Url); break;
                case MdInline.HtmlInline html: plain.Append(html.Tag); break;
                case MdInline.ContainerInline c: foreach (var child in c) Walk(child); break;
            }
        }
        if (container is not null) foreach (var i in container) Walk(i);
        if (plain.Length > 0) result.Add(new Inline(plain.ToString(), InlineKind.Text));
        return result;
    }

    private static string Plain(MdInline.ContainerInline c)
    {
        var text = new System.Text.StringBuilder();
        foreach (var i in c)
        {
            text.Append(i switch
            {
                MdInline.LiteralInline l => l.Content.ToString(),
                MdInline.CodeInline code => code.Content,
                MdInline.LineBreakInline => " ",
                MdInline.ContainerInline inner => Plain(inner),
                _ => "",
            });
        }
        return text.ToString();
    }
}
