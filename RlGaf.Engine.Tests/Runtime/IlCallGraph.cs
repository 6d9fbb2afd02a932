using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace RlGaf.Engine.Tests.Runtime;

/// <summary>
/// Which methods each method of an assembly calls, read from its IL (System.Reflection.Metadata):
/// every call, callvirt, newobj, ldftn and ldvirtftn, named "Namespace.Type::name(ParamType, ...)".
/// Compiler-generated closures and local functions count as their own methods, named by their type.
/// </summary>
public sealed class IlCallGraph
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>Caller -> the members it calls.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Calls { get; }

    /// <summary>
    /// Caller -> the members it calls whose result the very next instruction does not store (in a local,
    /// a field or a static field): results used as a temporary, such as an argument to the next call.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> UnstoredResults { get; }

    public IlCallGraph(string assemblyPath)
    {
        using var pe = new PEReader(File.OpenRead(assemblyPath));
        var md = pe.GetMetadataReader();
        var names = new SignatureNames(md);
        var calls = new Dictionary<string, IReadOnlyList<string>>();
        var unstored = new Dictionary<string, IReadOnlyList<string>>();
        foreach (var h in md.MethodDefinitions)
        {
            var def = md.GetMethodDefinition(h);
            if (def.RelativeVirtualAddress == 0) continue; // abstract, extern, P/Invoke
            var il = pe.GetMethodBody(def.RelativeVirtualAddress).GetILReader();
            var callees = new List<string>();
            var temporaries = new List<string>();
            while (il.RemainingBytes > 0)
            {
                short value = il.ReadByte();
                if (value == 0xFE) value = (short)(0xFE00 | il.ReadByte());
                if (!OpCodesByValue.TryGetValue(value, out var op)) throw new InvalidDataException($"{names.Method(h)}: opcode {value:x} at IL offset {il.Offset - 1}: " + Convert.ToHexString(pe.GetMethodBody(def.RelativeVirtualAddress).GetILBytes()!));
                switch (op.OperandType)
                {
                    case OperandType.InlineNone: break;
                    case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: il.Offset += 1; break;
                    case OperandType.InlineVar: il.Offset += 2; break;
                    case OperandType.InlineI8 or OperandType.InlineR: il.Offset += 8; break;
                    case OperandType.InlineSwitch: int targets = il.ReadInt32(); il.Offset += 4 * targets; break;
                    case OperandType.InlineMethod:
                        var token = MetadataTokens.EntityHandle(il.ReadInt32());
                        if (op == OpCodes.Call || op == OpCodes.Callvirt || op == OpCodes.Newobj || op == OpCodes.Ldftn || op == OpCodes.Ldvirtftn)
                        {
                            string callee = names.Method(token);
                            callees.Add(callee);
                            if (il.RemainingBytes == 0 || !StoresNext(il)) temporaries.Add(callee);
                        }
                        break;
                    default: il.Offset += 4; break; // tokens, 32-bit branches and constants
                }
            }
            calls[names.Method(h)] = callees;
            unstored[names.Method(h)] = temporaries;
        }
        Calls = calls;
        UnstoredResults = unstored;
    }

    // stloc.0-3, stloc.s, stloc, stfld, stsfld at the reader's position (not consumed).
    private static bool StoresNext(BlobReader il)
    {
        byte b = il.ReadByte();
        return b is >= 0x0A and <= 0x0D or 0x13 or 0x7D or 0x80 || (b == 0xFE && il.RemainingBytes > 0 && il.ReadByte() == 0x0E);
    }
}

/// <summary>Readable names of methods and types from metadata handles (definitions and references alike).</summary>
internal sealed class SignatureNames(MetadataReader md) : ISignatureTypeProvider<string, object?>
{
    public string Method(EntityHandle handle) => handle.Kind switch
    {
        HandleKind.MethodDefinition => Def((MethodDefinitionHandle)handle),
        HandleKind.MemberReference => Ref((MemberReferenceHandle)handle),
        HandleKind.MethodSpecification => Method(md.GetMethodSpecification((MethodSpecificationHandle)handle).Method),
        _ => handle.Kind.ToString(),
    };

    private string Def(MethodDefinitionHandle h)
    {
        var def = md.GetMethodDefinition(h);
        var sig = def.DecodeSignature(this, null);
        return $"{Type(def.GetDeclaringType())}::{md.GetString(def.Name)}({string.Join(", ", sig.ParameterTypes)})";
    }

    private string Ref(MemberReferenceHandle h)
    {
        var r = md.GetMemberReference(h);
        string parent = r.Parent.Kind switch
        {
            HandleKind.TypeReference => Type((TypeReferenceHandle)r.Parent),
            HandleKind.TypeDefinition => Type((TypeDefinitionHandle)r.Parent),
            HandleKind.TypeSpecification => md.GetTypeSpecification((TypeSpecificationHandle)r.Parent).DecodeSignature(this, null),
            _ => r.Parent.Kind.ToString(),
        };
        if (r.GetKind() != MemberReferenceKind.Method) return $"{parent}::{md.GetString(r.Name)}";
        var sig = r.DecodeMethodSignature(this, null);
        return $"{parent}::{md.GetString(r.Name)}({string.Join(", ", sig.ParameterTypes)})";
    }

    private string Type(TypeDefinitionHandle h)
    {
        var t = md.GetTypeDefinition(h);
        var declaring = t.GetDeclaringType();
        string name = md.GetString(t.Name);
        return declaring.IsNil ? Qualify(md.GetString(t.Namespace), name) : $"{Type(declaring)}+{name}";
    }

    private string Type(TypeReferenceHandle h)
    {
        var t = md.GetTypeReference(h);
        string name = md.GetString(t.Name);
        return t.ResolutionScope.Kind == HandleKind.TypeReference
            ? $"{Type((TypeReferenceHandle)t.ResolutionScope)}+{name}"
            : Qualify(md.GetString(t.Namespace), name);
    }

    private static string Qualify(string ns, string name) => ns.Length == 0 ? name : $"{ns}.{name}";

    public string GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode.ToString();
    public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => Type(handle);
    public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => Type(handle);
    public string GetTypeFromSpecification(MetadataReader reader, object? context, TypeSpecificationHandle handle, byte rawTypeKind) =>
        reader.GetTypeSpecification(handle).DecodeSignature(this, context);
    public string GetSZArrayType(string elementType) => elementType + "[]";
    public string GetArrayType(string elementType, ArrayShape shape) => $"{elementType}[{new string(',', shape.Rank - 1)}]";
    public string GetByReferenceType(string elementType) => elementType + "&";
    public string GetPointerType(string elementType) => elementType + "*";
    public string GetPinnedType(string elementType) => elementType;
    public string GetGenericInstantiation(string genericType, ImmutableArray<string> typeArguments) => $"{genericType}<{string.Join(", ", typeArguments)}>";
    public string GetGenericMethodParameter(object? context, int index) => $"!!{index}";
    public string GetGenericTypeParameter(object? context, int index) => $"!{index}";
    public string GetFunctionPointerType(MethodSignature<string> signature) => "fnptr";
    public string GetModifiedType(string modifier, string unmodifiedType, bool isRequired) => unmodifiedType;
}
